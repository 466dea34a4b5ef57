"""Byte-exact servo emulators (Feetech protocol 0, Dynamixel Protocol 2.0) behind a pseudo-terminal."""

from lerobot_drivers.emulator.arms import emulate_arm
from lerobot_drivers.emulator.pty_bus import ServoBusEmulator
from lerobot_drivers.emulator.servo import EmulatedServo, ServoFaults

__all__ = ["EmulatedServo", "ServoBusEmulator", "ServoFaults", "emulate_arm"]
