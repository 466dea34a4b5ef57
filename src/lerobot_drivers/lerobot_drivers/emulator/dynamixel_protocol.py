"""Dynamixel Protocol 2.0 on the servo side: instruction packets in, status packets out, byte for byte.

Instruction: `FF FF FD 00 ID LEN_L LEN_H INST P... CRC_L CRC_H`, LEN = len(P) + 3 (after byte stuffing).
Status:      `FF FF FD 00 ID LEN_L LEN_H 55 ERR P... CRC_L CRC_H`, LEN = len(P) + 4.
CRC-16 (poly 0x8005, init 0, MSB first) over everything before it. Byte stuffing: `FF FF FD` inside the body
travels as `FF FF FD FD`.
"""

from __future__ import annotations

from lerobot_drivers.emulator.protocol import Packet, ServoLookup

BROADCAST_ID = 0xFE
HEADER = b"\xff\xff\xfd\x00"
PING, READ, WRITE, SYNC_READ, SYNC_WRITE, STATUS = 0x01, 0x02, 0x03, 0x82, 0x83, 0x55
INSTRUCTION_ERROR, ALERT = 0x02, 0x80


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(body: bytes) -> bytes:
    """Insert an extra 0xFD after every `FF FF FD` of the body."""
    out = bytearray()
    for byte in body:
        out.append(byte)
        if byte == 0xFD and out[-3:-1] == b"\xff\xff":
            out.append(0xFD)
    return bytes(out)


def unstuff(body: bytes) -> bytes:
    out = bytearray()
    skip = False
    for index, byte in enumerate(body):
        if skip:
            skip = False
            continue
        out.append(byte)
        if (
            byte == 0xFD
            and body[max(0, index - 2) : index] == b"\xff\xff"
            and body[index + 1 : index + 2] == b"\xfd"
        ):
            skip = True
    return bytes(out)


def status_packet(motor_id: int, error: int, params: bytes = b"", corrupt: bool = False) -> bytes:
    body = stuff(bytes([STATUS, error, *params]))
    length = len(body) + 2
    packet = HEADER + bytes([motor_id, length & 0xFF, length >> 8]) + body
    crc = crc16(packet) ^ (0xFFFF if corrupt else 0)
    return packet + bytes([crc & 0xFF, crc >> 8])


class DynamixelProtocol:
    name = "dynamixel"

    def __init__(self) -> None:
        self.bad_checksums = 0

    def parse(self, buffer: bytearray) -> list[Packet]:
        """Take every complete instruction packet off the front of `buffer` (garbage is skipped)."""
        packets = []
        while True:
            start = buffer.find(HEADER)
            if start < 0:
                del buffer[: max(0, len(buffer) - 3)]  # keep a possible partial header
                return packets
            del buffer[:start]
            if len(buffer) < 7:
                return packets
            total = 7 + (buffer[5] | buffer[6] << 8)
            if total < 10:
                del buffer[:4]
                continue
            if len(buffer) < total:
                return packets
            raw = bytes(buffer[:total])
            if crc16(raw[:-2]) != raw[-2] | raw[-1] << 8:
                self.bad_checksums += 1
                del buffer[:4]
                continue
            del buffer[:total]
            body = unstuff(raw[7:-2])
            packets.append(Packet(motor_id=raw[4], instruction=body[0], params=body[1:]))

    def handle(self, packet: Packet, servos: ServoLookup) -> bytes:
        """Execute one instruction; returns the status bytes to send back (possibly none)."""
        inst, params = packet.instruction, packet.params
        if packet.motor_id == BROADCAST_ID:
            if inst == PING:
                return b"".join(self._ping_reply(servo) for servo in servos.all())
            if inst == SYNC_READ and len(params) >= 4:
                return self._sync_read(params, servos)
            if inst == SYNC_WRITE and len(params) >= 4:
                self._sync_write(params, servos)
            elif inst == WRITE and len(params) >= 2:
                for servo in servos.all():
                    servo.write(params[0] | params[1] << 8, params[2:])
            return b""
        servo = servos.get(packet.motor_id)
        if servo is None:
            return b""
        if inst == PING:
            return self._ping_reply(servo)
        if inst == READ and len(params) == 4:
            data = servo.read(params[0] | params[1] << 8, params[2] | params[3] << 8)
            return self._reply(servo, 0, data) if data is not None else self._reply(servo, 4)
        if inst == WRITE and len(params) >= 2:
            return self._reply(servo, servo.write(params[0] | params[1] << 8, params[2:]))
        return self._reply(servo, INSTRUCTION_ERROR)

    def _sync_read(self, params: bytes, servos: ServoLookup) -> bytes:
        address, length = params[0] | params[1] << 8, params[2] | params[3] << 8
        replies = []
        for motor_id in params[4:]:  # one status per id, in the order asked
            servo = servos.get(motor_id)
            data = servo.read(address, length) if servo is not None else None
            if data is not None:
                replies.append(self._reply(servo, 0, data))
        return b"".join(replies)

    def _sync_write(self, params: bytes, servos: ServoLookup) -> None:
        address, length = params[0] | params[1] << 8, params[2] | params[3] << 8
        for offset in range(4, len(params) - length, length + 1):
            servo = servos.get(params[offset])
            if servo is not None:
                servo.write(address, params[offset + 1 : offset + 1 + length])

    def _ping_reply(self, servo) -> bytes:
        model = servo.model.model_number
        return self._reply(servo, 0, bytes([model & 0xFF, model >> 8, servo.firmware_version]))

    @staticmethod
    def _reply(servo, error: int, params: bytes = b"") -> bytes:
        if servo.faults.take("lost_replies"):
            return b""
        corrupt = servo.faults.take("corrupt_replies")
        alert = ALERT if servo.faults.hardware_error else 0
        return status_packet(servo.id, error | alert, params, corrupt)
