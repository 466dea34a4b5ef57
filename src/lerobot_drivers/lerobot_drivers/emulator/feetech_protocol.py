"""Feetech protocol 0 on the servo side: instruction packets in, status packets out, byte for byte.

Instruction: `FF FF ID LEN INST P... CHK`, LEN = len(P) + 2, CHK = ~(ID + LEN + INST + ΣP) & 0xFF.
Status:      `FF FF ID LEN ERR P... CHK`. Broadcast id 0xFE: no status, except for PING and SYNC_READ.
"""

from __future__ import annotations

from collections.abc import Iterable

from lerobot_drivers.emulator.protocol import Packet, ServoLookup

BROADCAST_ID = 0xFE
PING, READ, WRITE, REG_WRITE, ACTION, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x82, 0x83


def checksum(body: Iterable[int]) -> int:
    return ~sum(body) & 0xFF


def status_packet(motor_id: int, error: int, params: bytes = b"", corrupt: bool = False) -> bytes:
    body = [motor_id, len(params) + 2, error, *params]
    return bytes([0xFF, 0xFF, *body, checksum(body) ^ (0xFF if corrupt else 0)])


class FeetechProtocol:
    name = "feetech"

    def __init__(self) -> None:
        self.bad_checksums = 0
        self._registered: dict[int, tuple[int, bytes]] = {}  # REG_WRITE waiting for ACTION

    def parse(self, buffer: bytearray) -> list[Packet]:
        """Take every complete instruction packet off the front of `buffer` (garbage is skipped)."""
        packets = []
        while True:
            start = buffer.find(b"\xff\xff")
            if start < 0:
                del buffer[: max(0, len(buffer) - 1)]  # keep a trailing 0xFF: it may start a header
                return packets
            del buffer[:start]
            if len(buffer) >= 3 and buffer[2] == 0xFF:  # FF FF FF: the header starts one byte later
                del buffer[0]
                continue
            if len(buffer) < 4:
                return packets
            total = buffer[3] + 4
            if buffer[3] < 2:
                del buffer[:2]
                continue
            if len(buffer) < total:
                return packets
            raw = bytes(buffer[:total])
            if checksum(raw[2:-1]) != raw[-1]:
                self.bad_checksums += 1
                del buffer[:2]
                continue
            del buffer[:total]
            packets.append(Packet(motor_id=raw[2], instruction=raw[4], params=raw[5:-1]))

    def handle(self, packet: Packet, servos: ServoLookup) -> bytes:
        """Execute one instruction; returns the status bytes to send back (possibly none)."""
        inst, params = packet.instruction, packet.params
        if packet.motor_id == BROADCAST_ID:
            if inst == PING:
                return b"".join(self._reply(servo) for servo in servos.all())
            if inst == SYNC_READ and len(params) >= 2:
                return self._sync_read(params, servos)
            if inst == SYNC_WRITE and len(params) >= 2:
                self._sync_write(params, servos)
            elif inst == WRITE and params:
                for servo in servos.all():
                    servo.write(params[0], params[1:])
            elif inst == ACTION:
                for servo in servos.all():
                    self._action(servo)
            return b""
        servo = servos.get(packet.motor_id)
        if servo is None:
            return b""
        if inst == PING:
            return self._reply(servo)
        if inst == READ and len(params) == 2:
            data = servo.read(params[0], params[1])
            return self._reply(servo, data) if data is not None else b""
        if inst == WRITE and params:
            servo.write(params[0], params[1:])
            return self._reply(servo)
        if inst == REG_WRITE and params:
            self._registered[servo.id] = (params[0], params[1:])
            return self._reply(servo)
        if inst == ACTION:
            self._action(servo)
        return b""

    def _sync_read(self, params: bytes, servos: ServoLookup) -> bytes:
        address, length, ids = params[0], params[1], params[2:]
        replies = []
        for motor_id in ids:  # one status per id, in the order asked
            servo = servos.get(motor_id)
            data = servo.read(address, length) if servo is not None else None
            if data is not None:
                replies.append(self._reply(servo, data))
        return b"".join(replies)

    def _sync_write(self, params: bytes, servos: ServoLookup) -> None:
        address, length = params[0], params[1]
        for offset in range(2, len(params) - length, length + 1):
            servo = servos.get(params[offset])
            if servo is not None:
                servo.write(address, params[offset + 1 : offset + 1 + length])

    def _action(self, servo) -> None:
        registered = self._registered.pop(servo.id, None)
        if registered:
            servo.write(*registered)

    @staticmethod
    def _reply(servo, params: bytes = b"") -> bytes:
        if servo.faults.take("lost_replies"):
            return b""
        corrupt = servo.faults.take("corrupt_replies")
        return status_packet(servo.id, servo.faults.hardware_error & 0x7F, params, corrupt)
