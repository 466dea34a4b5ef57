"""What the two protocol emulations share: a parsed instruction and the view of the servos they act on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lerobot_drivers.emulator.servo import EmulatedServo


@dataclass(frozen=True)
class Packet:
    motor_id: int
    instruction: int
    params: bytes


class ServoLookup:
    """The servos that can hear the bus right now (silent ones are cut off), looked up by their current id."""

    def __init__(self, servos: Iterable[EmulatedServo]):
        self._servos = [servo for servo in servos if not servo.faults.silent]

    def get(self, motor_id: int) -> EmulatedServo | None:
        return next((servo for servo in self._servos if servo.id == motor_id), None)

    def all(self) -> list[EmulatedServo]:
        return sorted(self._servos, key=lambda servo: servo.id)
