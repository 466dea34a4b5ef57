"""The calibrated arm core on emulated SO-101 (Feetech) and Koch (Dynamixel) arms: radians, commands,
limits, calibration sync, safe shutdown, and the control loop across a USB unplug."""

import math
import time

import pytest

from lerobot_common.calibration import MotorCalibration, save_calibration
from lerobot_common.robot_description import load_robot_description
from lerobot_drivers.arm import Arm, ArmConfig, ArmLoop
from lerobot_drivers.commands import RejectedCommandError
from lerobot_drivers.emulator import emulate_arm

pytestmark = pytest.mark.timeout(60)


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_arm_reads_radians_from_the_users_calibration_file(follower, follower_calibration, calibration_root):
    save_calibration(
        calibration_root / "robots" / follower.lerobot_type / "my_arm.json", follower_calibration
    )
    positions = {"elbow_flex": 2500, "gripper": 2300}
    with emulate_arm(follower, calibration=follower_calibration, positions=positions) as emulator:
        arm = Arm(ArmConfig(follower, emulator.port, robot_id="my_arm"))
        arm.connect()
        sample = arm.read()
        elbow = follower_calibration["elbow_flex"]
        expected = (2500 - (elbow.range_min + elbow.range_max) / 2) * 2 * math.pi / 4096
        assert sample.positions[2] == pytest.approx(expected)
        assert sample.velocities == [0.0] * 6
        assert abs(sample.stamp_ns - time.time_ns()) < 1e9
        assert emulator.servo(1).get("Torque_Enable") == 1  # a follower holds its pose once connected
        arm.close("torque_off")


def test_connect_stores_the_files_calibration_in_the_motors(follower, follower_calibration):
    with emulate_arm(follower) as emulator:  # factory motors: offset 0, limits 0..4095
        arm = Arm(ArmConfig(follower, emulator.port, robot_id="x"), calibration=follower_calibration)
        arm.connect()
        assert arm.bus.read_calibration() == {
            name: MotorCalibration(
                entry.id,
                arm.bus.read_calibration()[name].drive_mode,
                entry.homing_offset,
                entry.range_min,
                entry.range_max,
            )
            for name, entry in follower_calibration.items()
        }
        gripper = emulator.servo(6)
        if follower.protocol == "feetech":
            assert gripper.get("Max_Torque_Limit") == 500 and gripper.get("P_Coefficient") == 16
        else:
            assert gripper.get("Operating_Mode") == 5 and emulator.servo(3).get("Position_P_Gain") == 1500
        arm.close()


def test_commands_move_the_joints_within_their_limits(follower, follower_calibration):
    with emulate_arm(follower, calibration=follower_calibration) as emulator:
        arm = Arm(ArmConfig(follower, emulator.port, robot_id="x"), calibration=follower_calibration)
        arm.connect()
        goals = arm.command({"elbow_flex": 0.4, "wrist_flex": -0.2})
        assert set(goals) == {"elbow_flex", "wrist_flex"}  # a subset of joints moves only those
        assert wait_for(lambda: arm.read().positions[2] == pytest.approx(0.4, abs=2e-3))
        assert arm.read().positions[3] == pytest.approx(-0.2, abs=2e-3)

        far = arm.command({"shoulder_lift": 10.0})  # clamped to the calibrated range (and URDF limit)
        upper = arm.joint_limits("shoulder_lift")[1]
        assert upper <= arm.units["shoulder_lift"].radian_limits[1]
        assert far["shoulder_lift"] == round(arm.units["shoulder_lift"].radians_to_ticks(upper))
        with pytest.raises(KeyError, match="unknown joints \\['elbow'\\]"):
            arm.command({"elbow": 0.1})
        arm.close()


def test_a_command_with_a_non_finite_value_is_refused_whole(follower, follower_calibration):
    """Moving only the finite joints would make a pose nobody commanded: nothing is written at all."""
    with emulate_arm(follower, calibration=follower_calibration) as emulator:
        arm = Arm(ArmConfig(follower, emulator.port, robot_id="x"), calibration=follower_calibration)
        arm.connect()
        before = [emulator.servo(j.id).get("Goal_Position") for j in follower.joints]
        command = dict(zip(arm.joint_names, [math.nan, math.inf, 0.3, 0.3, 0.3, 0.3], strict=True))
        with pytest.raises(RejectedCommandError, match="shoulder_pan=nan, shoulder_lift=inf"):
            arm.command(command)
        assert [emulator.servo(j.id).get("Goal_Position") for j in follower.joints] == before
        arm.close()


def test_shutdown_modes(follower, follower_calibration):
    with emulate_arm(follower, calibration=follower_calibration) as emulator:
        arm = Arm(ArmConfig(follower, emulator.port, robot_id="x"), calibration=follower_calibration)
        arm.connect()
        goal = arm.command({"elbow_flex": 1.0})["elbow_flex"]
        time.sleep(0.02)
        arm.close("hold")  # stops where it is (not at the commanded goal) and keeps holding
        elbow = emulator.servo(3)
        time.sleep(0.05)
        elbow.refresh()
        assert elbow.get("Torque_Enable") == 1 and elbow.get("Moving") == 0
        assert elbow.get("Goal_Position") == elbow.get("Present_Position") != goal
        arm.connect()
        arm.close("torque_off")
        assert [emulator.servo(i).get("Torque_Enable") for i in range(1, 7)] == [0] * 6


def test_leader_is_limp_and_follows_the_hand(so101_calibration):
    leader = load_robot_description("so101_leader")
    with emulate_arm(leader, calibration=so101_calibration) as emulator:
        arm = Arm(ArmConfig(leader, emulator.port, robot_id="x"), calibration=so101_calibration)
        arm.connect()
        assert arm.is_leader and emulator.servo(2).get("Torque_Enable") == 0
        lift = so101_calibration["shoulder_lift"]
        emulator.servo(2).move_by_hand(lift.range_max)
        assert arm.read().positions[1] == pytest.approx(arm.units["shoulder_lift"].radian_limits[1])
        with pytest.raises(RuntimeError, match="leader arm takes no commands"):
            arm.command({"shoulder_lift": 0.0})
        arm.close()


def test_calibration_of_another_robot_is_refused(follower, follower_calibration, calibration_root):
    wrong = dict(follower_calibration)
    wrong["gripper"] = MotorCalibration(7, 0, 0, 100, 200)
    with pytest.raises(ValueError, match="gives 'gripper' id 7"):
        Arm(ArmConfig(follower, "/dev/null", robot_id="x"), calibration=wrong)
    with pytest.raises(FileNotFoundError, match="calibrate this arm once"):
        Arm(ArmConfig(follower, "/dev/null", robot_id="never_calibrated"))


def test_loop_survives_an_unplug_and_reconnects(follower, follower_calibration):
    with emulate_arm(follower, calibration=follower_calibration) as emulator:
        arm = Arm(ArmConfig(follower, emulator.port, robot_id="x"), calibration=follower_calibration)
        arm.connect()
        loop = ArmLoop(arm, reconnect_period_s=0.05)
        assert loop.step() is not None and loop.status.connected

        emulator.unplug()
        assert loop.step() is None
        assert (
            not loop.status.connected and loop.status.disconnects == 1 and "unplugged" in loop.status.message
        )
        time.sleep(0.06)
        assert loop.step() is None and "reconnecting" in loop.status.message  # port still gone: no crash

        emulator.servo(1).memory_set("Torque_Enable", 0)  # the motors lost power meanwhile
        emulator.replug()
        assert wait_for(lambda: loop.step() is not None, timeout=2.0)
        assert loop.status.connected and loop.status.reconnects == 1
        assert emulator.servo(1).get("Torque_Enable") == 1  # the follower holds again

        emulator.servo(4).faults.silent = True  # one motor stops answering: the cycle fails, the loop goes on
        assert loop.step() is None and loop.status.failing_motors == [4] and loop.status.connected
        emulator.servo(4).faults.silent = False
        assert loop.step({"wrist_flex": 0.1}) is not None and loop.status.message == "ok"
        arm.close()
