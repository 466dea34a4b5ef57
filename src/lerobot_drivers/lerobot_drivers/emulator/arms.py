"""Emulated arms built from robot descriptions: for tests, benchmarks, trying the nodes without hardware."""

from __future__ import annotations

from collections.abc import Mapping

from lerobot_common.calibration import MotorCalibration
from lerobot_common.robot_description import RobotDescription
from lerobot_drivers.emulator.pty_bus import ServoBusEmulator
from lerobot_drivers.emulator.servo import EmulatedServo


def emulate_arm(
    description: RobotDescription,
    *,
    calibration: Mapping[str, MotorCalibration] | None = None,
    positions: Mapping[str, int] | None = None,
    **emulator_options,
) -> ServoBusEmulator:
    """An (unstarted) emulator with one servo per joint of `description`.

    `calibration`: stored in the servos as if the arm had been calibrated before. `positions`: present
    positions (ticks, through the stored homing offset) to start from; default the middle of each range.
    """
    servos = []
    for joint in description.joints:
        servo = EmulatedServo(joint.id, joint.model, baudrate=description.baudrate)
        entry = calibration.get(joint.name) if calibration else None
        if entry is not None:
            servo.memory_set("Homing_Offset", entry.homing_offset)
            servo.memory_set("Min_Position_Limit", entry.range_min)
            servo.memory_set("Max_Position_Limit", entry.range_max)
        if positions and joint.name in positions:
            servo.move_by_hand(positions[joint.name])
        elif entry is not None:
            servo.move_by_hand((entry.range_min + entry.range_max) // 2)
        servos.append(servo)
    return ServoBusEmulator(description.protocol, servos, **emulator_options)
