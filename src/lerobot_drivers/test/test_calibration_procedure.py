"""The interactive calibration procedure on emulated arms: lerobot's homing offsets and ranges."""

import pytest

from lerobot_common.calibration import MotorCalibration
from lerobot_common.robot_description import RobotDescription
from lerobot_drivers.calibration_procedure import calibrate_arm
from lerobot_drivers.emulator import emulate_arm
from lerobot_drivers.motors import BusConfig, Motor, MotorBus, make_bus

pytestmark = pytest.mark.timeout(60)


def connected_bus(description: RobotDescription, port: str) -> MotorBus:
    bus = make_bus(
        description.protocol, BusConfig(port), [Motor(j.name, j.id, j.model) for j in description.joints]
    )
    bus.connect()
    return bus


def test_interactive_procedure_writes_lerobots_values(follower):
    """Middle pose → half-turn homing; sweep → ranges; full-turn joints get the whole encoder."""
    with emulate_arm(follower) as emulator:
        bus = connected_bus(follower, emulator.port)
        # The middle pose, raw encoder positions (no offset yet): 2000, 2100, ...
        middle = {joint.id: 2000 + 100 * index for index, joint in enumerate(follower.joints)}
        sweeps = iter([700, 3400])  # present positions (after homing) the user reaches in turn

        def put_in_middle_pose():
            for motor_id, raw in middle.items():
                emulator.servo(motor_id).move_by_hand(raw)

        def sweep(present, minimums, maximums) -> bool:
            target = next(sweeps, None)
            if target is None:
                return True
            for joint in follower.joints:
                emulator.servo(joint.id).move_by_hand(target + joint.id)
            return False

        calibration = calibrate_arm(
            bus, follower, wait_for_middle_pose=put_in_middle_pose, on_range_update=sweep
        )
        bus.disconnect()

    for joint in follower.joints:
        raw = middle[joint.id]
        # Feetech: Present = Actual − offset → offset = raw − 2047; Dynamixel: Present = Actual + offset.
        offset = raw - 2047 if follower.protocol == "feetech" else 2047 - raw
        expected_range = (0, 4095) if joint.full_turn else (700 + joint.id, 3400 + joint.id)
        assert calibration[joint.name] == MotorCalibration(joint.id, 0, offset, *expected_range)
        servo = emulator.servo(joint.id)
        assert servo.get("Homing_Offset") == offset
        assert (servo.get("Min_Position_Limit"), servo.get("Max_Position_Limit")) == expected_range


def test_procedure_refuses_a_joint_that_never_moved(follower):
    with emulate_arm(follower) as emulator:
        bus = connected_bus(follower, emulator.port)
        with pytest.raises(ValueError, match="did not move"):
            calibrate_arm(bus, follower, wait_for_middle_pose=lambda: None, on_range_update=lambda *_: True)
        bus.disconnect()
