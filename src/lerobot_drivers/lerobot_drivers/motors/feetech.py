"""Feetech STS/SMS servos (SO-100, SO-101: STS3215) through `feetech-servo-sdk` (module `scservo_sdk`)."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

import scservo_sdk

from lerobot_drivers.motors.bus import COMM_SUCCESS, MotorBus, MotorHealth
from lerobot_drivers.motors.tables import FEETECH_ERROR_BITS, FEETECH_STS_TABLE, describe_error_bits

_PING_REPLY_BYTES = 6


class FeetechBus(MotorBus):
    protocol = "feetech"
    table = FEETECH_STS_TABLE

    @property
    def sdk(self) -> ModuleType:
        return scservo_sdk

    def _make_packet_handler(self):
        return scservo_sdk.PacketHandler(0)  # protocol "0": little-endian STS/SMS

    def broadcast_ping(self) -> dict[int, int]:
        # The SDK has no broadcast ping for this protocol: send one and collect the replies ourselves.
        found: list[int] = []

        def attempt() -> tuple[int, int]:
            port_handler, handler = self._port_handler, self._packet_handler
            packet = [0xFF, 0xFF, scservo_sdk.BROADCAST_ID, 2, scservo_sdk.INST_PING, 0]
            comm = handler.txPacket(port_handler, packet)
            if comm != COMM_SUCCESS:
                return comm, 0
            port_handler.setPacketTimeout(_PING_REPLY_BYTES * scservo_sdk.MAX_ID)
            while True:
                reply, comm = handler.rxPacket(port_handler)
                if comm != COMM_SUCCESS:
                    return COMM_SUCCESS, 0
                found.append(reply[2])

        self._attempt(attempt, retry=False)
        models = {}
        for motor_id in found:
            number, comm, _ = self._packet_handler.read2ByteTxRx(
                self._port_handler, motor_id, self.table["Model_Number"].address
            )
            if comm == COMM_SUCCESS:
                models[motor_id] = number
        return models

    def set_torque(self, enabled: bool, motors: Iterable[str] | None = None) -> None:
        # Lock=1 keeps EEPROM writes from sticking while the motor works; Lock=0 allows calibration writes.
        for motor in list(self.motors) if motors is None else list(motors):
            self.write("Torque_Enable", motor, int(enabled))
            self.write("Lock", motor, int(enabled))

    def half_turn_homing_offset(self, raw_position: int) -> int:
        # Present = Actual - Homing_Offset: the offset moves the current pose to 2047 (lerobot's choice).
        return raw_position - 2047

    def read_health(self) -> dict[str, MotorHealth]:
        values = self.sync_read(["Present_Voltage", "Present_Temperature", "Status"])
        return {
            motor: MotorHealth(
                voltage_v=v["Present_Voltage"] / 10.0,
                temperature_c=float(v["Present_Temperature"]),
                errors=describe_error_bits(v["Status"], FEETECH_ERROR_BITS),
            )
            for motor, v in values.items()
        }

    def _instruction_refused(self, status_error: int) -> str | None:
        return None  # Feetech status bits are alarms (overload, voltage...), the instruction still ran
