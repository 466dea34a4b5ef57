"""The emulator speaks both protocols byte for byte: packets checked against hand-made bytes and the manuals'
examples, also through the pseudo-terminal without any SDK in between."""

import os
import time

import pytest
import serial

from lerobot_drivers.emulator import EmulatedServo, ServoBusEmulator
from lerobot_drivers.emulator import dynamixel_protocol as dxl
from lerobot_drivers.emulator import feetech_protocol as ft
from lerobot_drivers.emulator.protocol import Packet, ServoLookup

pytestmark = pytest.mark.timeout(30)


def exchange(port: str, request: bytes, reply_length: int, timeout: float = 2.0) -> bytes:
    """Write raw bytes to the emulator's port and read `reply_length` bytes back."""
    with serial.Serial(port, 1_000_000, timeout=timeout) as link:
        link.write(request)
        return link.read(reply_length)


def test_feetech_ping_and_read_are_byte_exact():
    servo = EmulatedServo(1, "sts3215", position=1000)
    with ServoBusEmulator("feetech", [servo]) as emulator:
        # Ping id 1 (hardware.md's example) → status: id 1, length 2, no error, checksum ~(1+2+0).
        assert exchange(emulator.port, bytes.fromhex("FF FF 01 02 01 FB"), 6) == bytes.fromhex(
            "FF FF 01 02 00 FC"
        )
        # Read 2 bytes at 56 (Present_Position): checksum ~(1+4+2+0x38+2) = 0xBE; 1000 = E8 03 little-endian,
        # reply checksum ~(1+4+0+0xE8+0x03) = 0x0F.
        reply = exchange(emulator.port, bytes.fromhex("FF FF 01 04 02 38 02 BE"), 8)
        assert reply == bytes.fromhex("FF FF 01 04 00 E8 03 0F")


def test_feetech_bad_checksum_is_ignored_and_counted():
    servo = EmulatedServo(1, "sts3215")
    with ServoBusEmulator("feetech", [servo]) as emulator:
        assert exchange(emulator.port, bytes.fromhex("FF FF 01 02 01 FA"), 6, timeout=0.2) == b""
        assert emulator.protocol.bad_checksums == 1


def test_dynamixel_ping_is_byte_exact():
    servo = EmulatedServo(1, "xl330-m288")  # model 1200 = 0x04B0, firmware 52 = 0x34
    with ServoBusEmulator("dynamixel", [servo]) as emulator:
        reply = exchange(emulator.port, bytes.fromhex("FF FF FD 00 01 03 00 01 19 4E"), 14)
    assert reply[:12] == bytes.fromhex("FF FF FD 00 01 07 00 55 00 B0 04 34")
    assert dxl.crc16(reply[:12]) == reply[12] | reply[13] << 8


def test_dynamixel_crc_matches_the_manual_examples():
    assert dxl.crc16(bytes.fromhex("FF FF FD 00 01 03 00 01")) == 0x4E19  # ping instruction
    assert dxl.crc16(bytes.fromhex("FF FF FD 00 01 07 00 55 00 06 04 26")) == 0x5D65  # its status (e-manual)


def test_dynamixel_byte_stuffing_round_trip():
    body = bytes.fromhex("55 00 FF FF FD 01 FF FF FD")
    stuffed = dxl.stuff(body)
    assert stuffed == bytes.fromhex("55 00 FF FF FD FD 01 FF FF FD FD")
    assert dxl.unstuff(stuffed) == body
    packet = dxl.status_packet(3, 0, bytes.fromhex("FF FF FD"))
    assert packet[5] | packet[6] << 8 == 4 + 3 + 1  # LEN counts the stuffed byte


def test_packets_split_across_reads_and_garbage_are_parsed():
    protocol = ft.FeetechProtocol()
    buffer = bytearray(bytes.fromhex("00 13 FF FF 01 04 02"))
    assert protocol.parse(buffer) == []
    buffer += bytes.fromhex("38 02 BE FF")
    assert protocol.parse(buffer) == [Packet(1, ft.READ, bytes([0x38, 0x02]))]
    assert buffer == bytearray(b"\xff")  # a lone 0xFF may begin the next header


def test_sync_read_replies_in_the_requested_order_and_skips_silent_servos():
    servos = [EmulatedServo(i, "sts3215", position=100 * i) for i in (1, 2, 3)]
    servos[1].faults.silent = True
    request = Packet(ft.BROADCAST_ID, ft.SYNC_READ, bytes([56, 2, 3, 2, 1]))
    reply = ft.FeetechProtocol().handle(request, ServoLookup(servos))
    assert reply == ft.status_packet(3, 0, (300).to_bytes(2, "little")) + ft.status_packet(
        1, 0, (100).to_bytes(2, "little")
    )


def test_unplug_removes_the_port_and_replug_restores_it():
    servo = EmulatedServo(1, "sts3215")
    with ServoBusEmulator("feetech", [servo]) as emulator:
        link = serial.Serial(emulator.port, 1_000_000, timeout=0.5)
        emulator.unplug()
        assert not os.path.exists(emulator.port)
        with pytest.raises(serial.SerialException):
            link.write(b"\xff")
            time.sleep(0.05)
            link.read(1)
        link.close()
        emulator.replug()
        assert exchange(emulator.port, bytes.fromhex("FF FF 01 02 01 FB"), 6) == bytes.fromhex(
            "FF FF 01 02 00 FC"
        )
