"""One emulated servo: its control-table memory, a simple motion model and injectable faults.

The memory is the truth for every register the host writes (ids, offsets, limits, goals, torque); present
values (position, velocity, load, moving) are refreshed from the motion model whenever the host reads.
The motor follows its goal at a bounded speed while torque is on; with torque off it stays where it is,
unless a test moves it "by hand" (`move_by_hand`), as a person moves a leader arm.
Feetech encoders are single-turn: Present = (Actual − Homing_Offset) mod 4096, which is how a real SO-101
calibration with a large offset still reads 0..4095. Dynamixel positions are multi-turn:
Present = Actual + Homing_Offset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lerobot_drivers.motors.tables import (
    DYNAMIXEL_BAUD_INDEX,
    DYNAMIXEL_EEPROM_END,
    FEETECH_BAUD_INDEX,
    MODELS,
)

MEMORY_SIZE = 256
DYNAMIXEL_ACCESS_ERROR = 7
DYNAMIXEL_POSITION_MODE = 3  # the only mode where the position limits clamp goals


@dataclass
class ServoFaults:
    silent: bool = False  # answers nothing, hears nothing (a motor cut off the daisy chain)
    corrupt_replies: int = 0  # the next N replies leave with a wrong checksum / CRC
    lost_replies: int = 0  # the next N replies never arrive (noise on the line, a collision)
    hardware_error: int = 0  # Feetech status bits / Dynamixel Hardware_Error_Status bits

    def take(self, counter: str) -> bool:
        """Use up one of the faults counted by `counter`; False when none is left."""
        left = getattr(self, counter)
        if left > 0:
            setattr(self, counter, left - 1)
        return left > 0


class EmulatedServo:
    def __init__(
        self,
        motor_id: int,
        model: str,
        *,
        position: int = 2048,
        max_speed_ticks_s: float = 4000.0,
        baudrate: int = 1_000_000,
    ):
        self.model = MODELS[model]
        self.table = self.model.table
        self.faults = ServoFaults()
        self.max_speed_ticks_s = max_speed_ticks_s
        self.memory = bytearray(MEMORY_SIZE)
        self._actual = float(position)  # raw encoder ticks, homing offset not applied
        self._last_update = time.monotonic()
        self._set("Model_Number", self.model.model_number)
        self._set("ID", motor_id)
        self._set("Max_Position_Limit", self.model.resolution - 1)
        self._set("Present_Temperature", 31)
        if self.is_feetech:
            self._set("Baud_Rate", FEETECH_BAUD_INDEX[baudrate])
            self._set("Present_Voltage", 74)  # 0.1 V
            self._set("P_Coefficient", 32)
            self._set("D_Coefficient", 32)
        else:
            self._set("Firmware_Version", 52)
            self._set("Baud_Rate", DYNAMIXEL_BAUD_INDEX[baudrate])
            self._set("Operating_Mode", DYNAMIXEL_POSITION_MODE)
            self._set("Present_Input_Voltage", 50)  # 0.1 V
        self._set("Goal_Position", position)
        self.refresh()

    @property
    def is_feetech(self) -> bool:
        return self.model.protocol == "feetech"

    @property
    def id(self) -> int:
        return self.memory[self.table["ID"].address]

    @property
    def firmware_version(self) -> int:
        return self.memory[self.table["Firmware_Version"].address] if not self.is_feetech else 0

    # ------------------------------------------------------------------------------------- host side (bus)
    def read(self, address: int, length: int) -> bytes | None:
        """Bytes of the control table, or None for an address outside it."""
        if address + length > MEMORY_SIZE:
            return None
        self.refresh()
        return bytes(self.memory[address : address + length])

    def write(self, address: int, data: bytes) -> int:
        """Store `data` at `address`; returns a Dynamixel instruction error code (0 = done)."""
        if address + len(data) > MEMORY_SIZE:
            return 4  # data range error
        if not self.is_feetech and address < DYNAMIXEL_EEPROM_END and self.get("Torque_Enable"):
            return DYNAMIXEL_ACCESS_ERROR  # X series refuse EEPROM writes while torque is on
        self.refresh()  # settle the motion under the old goal before it changes
        self.memory[address : address + len(data)] = data
        return 0

    # ------------------------------------------------------------------------------------- test side
    def get(self, name: str) -> int:
        register = self.table[name]
        return register.from_bytes(self.memory[register.address : register.address + register.size])

    def memory_set(self, name: str, value: int) -> None:
        """Set a register directly, as if it had been configured before (no protocol rules apply)."""
        self._set(name, value)
        self.refresh()

    def move_by_hand(self, present_position: int) -> None:
        """Put the motor where it reads `present_position` (through the homing offset), as a hand would."""
        self._actual = float(present_position + self._offset_sign * self.get("Homing_Offset"))
        self.refresh()

    @property
    def raw_position(self) -> int:
        """Encoder position without the homing offset (one turn on Feetech, multi-turn on Dynamixel)."""
        raw = round(self._actual)
        return raw % self.model.resolution if self.is_feetech else raw

    def refresh(self) -> None:
        """Advance the motion model to now and write the present-value registers."""
        now = time.monotonic()
        dt, self._last_update = now - self._last_update, now
        velocity = 0.0
        moving = False
        if self.get("Torque_Enable"):
            # Servos close the loop on the present position, so they move in its frame (no shortcut across
            # the encoder's wrap).
            error = self._clamped_goal() - self._present()
            step = max(-self.max_speed_ticks_s * dt, min(self.max_speed_ticks_s * dt, error))
            self._actual += step
            velocity = step / dt if dt > 0 else 0.0
            moving = abs(error - step) > 0.5
        if self.is_feetech:
            self._set("Present_Velocity", round(velocity))
            self._set("Present_Load", min(1000, round(abs(velocity) / 10)))
            self._set("Present_Current", round(abs(velocity) / 40))
            self._set("Status", self.faults.hardware_error)
        else:
            self._set("Present_Velocity", round(velocity * 60 / (self.model.resolution * 0.229)))
            self._set("Present_Current", round(velocity / 40))
            self._set("Hardware_Error_Status", self.faults.hardware_error)
        self._set(
            "Present_Position",
            round(self._present()) % self.model.resolution if self.is_feetech else round(self._present()),
        )
        self._set("Moving", int(moving))

    # ------------------------------------------------------------------------------------- internals
    @property
    def _offset_sign(self) -> int:
        # Feetech: Present = Actual - Homing_Offset (within one turn); Dynamixel: Actual + Homing_Offset.
        return 1 if self.is_feetech else -1

    def _present(self) -> float:
        present = self._actual - self._offset_sign * self.get("Homing_Offset")
        if self.is_feetech:
            present %= self.model.resolution  # a single-turn encoder: the reading wraps
        return present

    def _clamped_goal(self) -> int:
        goal = self.get("Goal_Position")
        if self.is_feetech or self.get("Operating_Mode") == DYNAMIXEL_POSITION_MODE:
            goal = max(self.get("Min_Position_Limit"), min(self.get("Max_Position_Limit"), goal))
        return goal

    def _set(self, name: str, value: int) -> None:
        register = self.table[name]
        self.memory[register.address : register.address + register.size] = bytes(register.to_bytes(value))
