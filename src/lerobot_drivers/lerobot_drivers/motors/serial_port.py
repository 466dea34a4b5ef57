"""Opening a servo bus's serial port through an SDK PortHandler, with clear errors.

Pseudo-terminals (the servo emulator, socat bridges) carry bytes without a line rate, and some of them (macOS
ptys, some container runtimes) refuse non-standard speeds such as 1 Mbaud. When the SDK fails to set the
speed on a *pseudo-terminal*, the port is opened at a standard speed instead, while the SDK keeps the nominal
rate for its packet timeouts, so every timing the SDK derives is the one real hardware would see. Real serial
devices never take this path: there a refused speed is an error.

A pseudo-terminal's peer is a program, not a UART: its answer waits for the OS scheduler, which on a loaded
machine (a 2-core CI runner, a laptop training a policy) can take longer than the USB latency the SDKs' packet
timeouts allow for (twice a 16 ms latency timer). Ptys get `PTY_SCHEDULING_ALLOWANCE_MS` more per packet; a
motor that never answers is still reported, only later. Real serial devices keep the SDKs' timeouts.

Both SDKs open the port with a zero read timeout and spin on it until a reply is complete: a whole CPU core
for as long as the servos take to answer, holding the GIL, so on a 2-core machine the driver's other threads
(and a policy beside it) wait for that loop. Every port we open waits for bytes in `select` instead, up to
`READ_WAIT_S` per read: the SDK's packet timeouts still decide when a reply is late, to within that wait.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

import serial

from lerobot_drivers.motors.errors import PortNotFoundError, PortOpenError

PTY_FALLBACK_BAUDRATE = 38_400  # a speed every tty driver accepts
PTY_SCHEDULING_ALLOWANCE_MS = 250.0  # added to every packet timeout on a pseudo-terminal
READ_WAIT_S = 0.001  # the longest one read of the SDK blocks (it checks its packet timeout in between)
USB_REPLY_LATENCY_S = 0.04  # two 16 ms latency timers of a USB serial adapter, and some margin
_LINUX_PTY_SLAVE_MAJORS = range(136, 144)  # Unix98 pseudo-terminal slaves (/dev/pts/N)


def is_pseudo_terminal(path: str) -> bool:
    """True for a pseudo-terminal slave (also through a symlink), false for real serial devices."""
    real = os.path.realpath(path)
    try:
        mode = os.stat(real)
    except OSError:
        return False
    if not stat.S_ISCHR(mode.st_mode):
        return False
    if sys.platform.startswith("linux"):
        return os.major(mode.st_rdev) in _LINUX_PTY_SLAVE_MAJORS
    return real.startswith(("/dev/pts/", "/dev/ttys"))


def reply_latency_s(path: str) -> float:
    """How long a reply may still take after its request was abandoned: the line must stay quiet that long
    before a new request can be sure the next reply is its own."""
    allowance = PTY_SCHEDULING_ALLOWANCE_MS / 1000 if is_pseudo_terminal(path) else 0.0
    return USB_REPLY_LATENCY_S + allowance


def open_port(port_handler, baudrate: int) -> bool:
    """Open `port_handler`'s port at `baudrate`; returns True when the pseudo-terminal fallback was used."""
    port = port_handler.getPortName()
    if not os.path.exists(port):
        raise PortNotFoundError(
            f"no serial port at {port}: is the arm's USB cable plugged in? "
            "`lerobot-ros-discover` lists the serial ports of this machine"
        )
    if is_pseudo_terminal(port):
        _allow_scheduling_latency(port_handler, PTY_SCHEDULING_ALLOWANCE_MS)
    try:
        opened = port_handler.setBaudRate(baudrate)
    except (OSError, ValueError) as err:  # serial.SerialException is an OSError
        code = getattr(err, "errno", None)
        if code in (errno.EACCES, errno.EPERM):
            raise PortOpenError(
                f"permission denied on {port}: add your user to the 'dialout' group "
                "(sudo usermod -aG dialout $USER, then log in again)"
            ) from err
        if code == errno.EBUSY:
            raise PortOpenError(f"{port} is busy: close the other program using it") from err
        if code == errno.ENOENT:
            raise PortNotFoundError(f"{port} disappeared while opening it: check the USB cable") from err
        if not is_pseudo_terminal(port):
            raise PortOpenError(f"could not open {port} at {baudrate} baud: {err}") from err
        _open_pty_at_nominal_rate(port_handler, baudrate)
        return True
    if not opened:
        raise PortOpenError(
            f"the servo SDK does not support {baudrate} baud on {port}: use a rate the motors are set to "
            "(1000000 by default; 57600 on factory-new Dynamixels)"
        )
    port_handler.ser.timeout = READ_WAIT_S
    return False


def _open_pty_at_nominal_rate(port_handler, baudrate: int) -> None:
    """Open a pseudo-terminal at a standard speed, keeping the SDK's timing at `baudrate`."""
    if port_handler.is_open:
        port_handler.closePort()
    port_handler.ser = serial.Serial(
        port=port_handler.getPortName(),
        baudrate=PTY_FALLBACK_BAUDRATE,
        bytesize=serial.EIGHTBITS,
        timeout=READ_WAIT_S,
    )
    port_handler.ser.reset_input_buffer()
    port_handler.is_open = True
    port_handler.baudrate = baudrate
    # Both SDKs' setupPort derive their packet timeouts from this (milliseconds per 10-bit byte).
    port_handler.tx_time_per_byte = (1000.0 / baudrate) * 10.0


def _allow_scheduling_latency(port_handler, allowance_ms: float) -> None:
    """Make every packet timeout the SDK sets on `port_handler` `allowance_ms` longer."""
    set_timeout, set_timeout_ms = port_handler.setPacketTimeout, port_handler.setPacketTimeoutMillis

    def set_packet_timeout(packet_length: int) -> None:
        set_timeout(packet_length)
        port_handler.packet_timeout += allowance_ms

    port_handler.setPacketTimeout = set_packet_timeout
    port_handler.setPacketTimeoutMillis = lambda msec: set_timeout_ms(msec + allowance_ms)
