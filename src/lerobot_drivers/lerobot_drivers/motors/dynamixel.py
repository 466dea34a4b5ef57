"""Dynamixel X-series servos (Koch: XL330/XL430, ALOHA) through `dynamixel-sdk`, Protocol 2.0."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

import dynamixel_sdk

from lerobot_drivers.motors.bus import COMM_SUCCESS, MotorBus, MotorHealth
from lerobot_drivers.motors.tables import (
    DYNAMIXEL_HARDWARE_ERROR_BITS,
    DYNAMIXEL_X_TABLE,
    describe_error_bits,
)

_INSTRUCTION_ERRORS = {
    1: "it failed to process the instruction",
    2: "undefined or malformed instruction",
    3: "CRC mismatch (noise on the bus?)",
    4: "value out of range",
    5: "wrong data length",
    6: "value beyond the motor's limit",
    7: "access denied: the register is read-only, or in EEPROM while torque is on (disable torque first)",
}


class DynamixelBus(MotorBus):
    protocol = "dynamixel"
    table = DYNAMIXEL_X_TABLE
    drive_mode_register = "Drive_Mode"

    @property
    def sdk(self) -> ModuleType:
        return dynamixel_sdk

    def _make_packet_handler(self):
        return dynamixel_sdk.PacketHandler(2.0)

    def broadcast_ping(self) -> dict[int, int]:
        found: dict[int, list[int]] = {}

        def attempt() -> tuple[int, int]:
            replies, comm = self._packet_handler.broadcastPing(self._port_handler)
            found.update(replies)
            return (COMM_SUCCESS if comm == dynamixel_sdk.COMM_RX_TIMEOUT else comm), 0

        self._attempt(attempt, retry=False)
        return {motor_id: model_firmware[0] for motor_id, model_firmware in found.items()}

    def set_torque(self, enabled: bool, motors: Iterable[str] | None = None) -> None:
        for motor in list(self.motors) if motors is None else list(motors):
            self.write("Torque_Enable", motor, int(enabled))

    def half_turn_homing_offset(self, raw_position: int) -> int:
        # Present = Actual + Homing_Offset: the offset moves the current pose to 2047 (lerobot's choice).
        return 2047 - raw_position

    def read_health(self) -> dict[str, MotorHealth]:
        errors = self.sync_read("Hardware_Error_Status")
        power = self.sync_read(["Present_Input_Voltage", "Present_Temperature"])
        return {
            motor: MotorHealth(
                voltage_v=power[motor]["Present_Input_Voltage"] / 10.0,
                temperature_c=float(power[motor]["Present_Temperature"]),
                errors=describe_error_bits(
                    errors[motor]["Hardware_Error_Status"], DYNAMIXEL_HARDWARE_ERROR_BITS
                ),
            )
            for motor in errors
        }

    def _instruction_refused(self, status_error: int) -> str | None:
        code = status_error & 0x7F  # bit 7 is the hardware alert flag: the instruction itself ran
        return _INSTRUCTION_ERRORS.get(code, f"error code {code}") if code else None
