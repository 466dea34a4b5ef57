"""Servo buses on the vendor SDKs: Feetech (`scservo_sdk`) and Dynamixel (`dynamixel_sdk`)."""

from lerobot_drivers.motors.bus import BusConfig, Motor, MotorBus, MotorHealth
from lerobot_drivers.motors.dynamixel import DynamixelBus
from lerobot_drivers.motors.feetech import FeetechBus

BUSES: dict[str, type[MotorBus]] = {"feetech": FeetechBus, "dynamixel": DynamixelBus}


def make_bus(protocol: str, config: BusConfig, motors: list[Motor]) -> MotorBus:
    if protocol not in BUSES:
        raise ValueError(f"unknown servo protocol {protocol!r}: use one of {sorted(BUSES)}")
    return BUSES[protocol](config, motors)


__all__ = ["BUSES", "BusConfig", "DynamixelBus", "FeetechBus", "Motor", "MotorBus", "MotorHealth", "make_bus"]
