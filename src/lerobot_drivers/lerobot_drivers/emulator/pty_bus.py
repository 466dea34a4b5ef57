"""A chain of emulated servos behind a pseudo-terminal, so the real vendor SDKs talk to it unchanged.

The port a driver opens is a stable symlink to the pty slave (like /dev/serial/by-id/...): `unplug()` closes
the pty and removes the link, as pulling the USB cable would; `replug()` makes a new pty behind the same link.
The servos keep their state across an unplug (their power supply is not the USB cable).

The emulator never looks at the line speed: bytes are bytes. Only when told `baudrate=` does it check the
speed the host set on the pty and ignore a host that talks at another rate, as real servos would.
"""

from __future__ import annotations

import contextlib
import os
import select
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Iterable
from pathlib import Path

from lerobot_drivers.emulator.dynamixel_protocol import DynamixelProtocol
from lerobot_drivers.emulator.feetech_protocol import FeetechProtocol
from lerobot_drivers.emulator.protocol import ServoLookup
from lerobot_drivers.emulator.servo import EmulatedServo

_PROTOCOLS = {"feetech": FeetechProtocol, "dynamixel": DynamixelProtocol}


class ServoBusEmulator:
    def __init__(
        self,
        protocol: str,
        servos: Iterable[EmulatedServo],
        *,
        link_dir: Path | None = None,
        baudrate: int | None = None,
        wire_baudrate: int | None = None,
    ):
        """`baudrate`: answer only a host whose pty speed matches (None: any speed, the default).
        `wire_baudrate`: delay each reply by the time its request and reply would take on a real wire."""
        if protocol not in _PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}: use one of {sorted(_PROTOCOLS)}")
        self.protocol = _PROTOCOLS[protocol]()
        self.servos = list(servos)
        self.baudrate = baudrate
        self.wire_baudrate = wire_baudrate
        self.reply_delay_s = 0.0  # extra wait before each reply: a host or adapter slow to deliver it
        self._own_dir = link_dir is None
        self._dir = Path(tempfile.mkdtemp(prefix="servo-emulator-")) if link_dir is None else Path(link_dir)
        self._link = self._dir / f"tty{protocol.upper()}"
        self._lock = threading.Lock()
        self._requests = 0  # packets from the host the servos handled
        self._request_seen = threading.Condition()
        self._master: int | None = None
        self._slave: int | None = None
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------- lifecycle
    @property
    def port(self) -> str:
        return str(self._link)

    def start(self) -> ServoBusEmulator:
        self.replug()
        return self

    def stop(self) -> None:
        self.unplug()
        if self._own_dir:
            self._dir.rmdir()

    def __enter__(self) -> ServoBusEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def unplug(self) -> None:
        """The USB cable comes out: the port vanishes and the host's open file starts failing."""
        if self._master is None:
            return
        os.write(self._wake[1], b"x")
        self._thread.join(timeout=5)
        self._link.unlink(missing_ok=True)
        for fd in (self._master, self._slave, *self._wake):
            os.close(fd)
        self._master = self._slave = self._wake = self._thread = None

    def replug(self) -> None:
        """The USB cable goes back in: a fresh pty appears behind the same port name."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no newline translation before the host configures the port
        os.set_blocking(master, False)
        self._master, self._slave, self._wake = master, slave, os.pipe()
        self._link.unlink(missing_ok=True)
        self._link.symlink_to(os.ttyname(slave))
        self._thread = threading.Thread(target=self._serve, name=f"emulator-{self._link.name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------------- test API
    def servo(self, motor_id: int) -> EmulatedServo:
        with self._lock:
            found = next((servo for servo in self.servos if servo.id == motor_id), None)
        if found is None:
            raise KeyError(f"no emulated servo with id {motor_id}")
        return found

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Wait until the host has sent `count` more packets; False after `timeout` seconds without. Two
        packets after a change to the servos (say `move_by_hand`) mean one was read wholly after it."""
        with self._request_seen:
            target = self._requests + count
            return self._request_seen.wait_for(lambda: self._requests >= target, timeout)

    # ------------------------------------------------------------------------------------------- serving
    def _serve(self) -> None:
        master, wake = self._master, self._wake[0]
        buffer = bytearray()
        while True:
            readable, _, _ = select.select([master, wake], [], [], 1.0)
            if wake in readable:
                return
            if master not in readable:
                continue
            try:
                buffer += os.read(master, 4096)
            except BlockingIOError:
                continue
            received_at = time.monotonic()
            for packet in self.protocol.parse(buffer):
                with self._lock:
                    if not self._speed_matches():
                        continue
                    reply = self.protocol.handle(packet, ServoLookup(self.servos))
                if reply:
                    self._send(master, reply, received_at, len(packet.params) + 10)
                with self._request_seen:
                    self._requests += 1
                    self._request_seen.notify_all()

    def _send(self, master: int, reply: bytes, received_at: float, request_bytes: int) -> None:
        if self.reply_delay_s:
            time.sleep(self.reply_delay_s)
        if self.wire_baudrate:
            # 10 bits per byte on the wire: the request still has to arrive, then the reply to leave.
            ready_at = received_at + (request_bytes + len(reply)) * 10 / self.wire_baudrate
            delay = ready_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        with contextlib.suppress(BlockingIOError):  # the host stopped reading: a real bus loses the reply too
            os.write(master, reply)

    def _speed_matches(self) -> bool:
        if self.baudrate is None:
            return True
        speed = getattr(termios, f"B{self.baudrate}", None)
        return speed is not None and termios.tcgetattr(self._slave)[5] == speed
