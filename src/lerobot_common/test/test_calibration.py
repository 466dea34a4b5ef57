"""lerobot's calibration JSON: its place, its exact format, and the interactive procedure on emulated arms."""

import json
from pathlib import Path

import pytest

from lerobot_drivers.calibration import (
    MotorCalibration,
    calibration_path,
    calibration_root,
    load_calibration,
    save_calibration,
)
from lerobot_drivers.calibration_procedure import calibrate_arm
from lerobot_drivers.emulator import emulate_arm
from lerobot_drivers.motors import BusConfig, Motor, make_bus

pytestmark = pytest.mark.timeout(60)

# A file exactly as lerobot writes it (json.dump(..., indent=4) of the dataclasses).
LEROBOT_FILE = """{
    "shoulder_pan": {
        "id": 1,
        "drive_mode": 0,
        "homing_offset": -1470,
        "range_min": 758,
        "range_max": 3292
    },
    "gripper": {
        "id": 6,
        "drive_mode": 0,
        "homing_offset": 1309,
        "range_min": 2024,
        "range_max": 3446
    }
}
"""


def test_calibration_root_follows_lerobots_environment_variables(monkeypatch, tmp_path):
    for name in ("HF_LEROBOT_CALIBRATION", "HF_LEROBOT_HOME", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert calibration_root() == tmp_path / ".cache/huggingface/lerobot/calibration"
    monkeypatch.setenv("HF_HOME", "/data/hf")
    assert calibration_root() == Path("/data/hf/lerobot/calibration")
    monkeypatch.setenv("HF_LEROBOT_HOME", "/data/lerobot")
    assert calibration_root() == Path("/data/lerobot/calibration")
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", "/data/calib")
    assert calibration_path("so101_follower", "my_arm") == Path(
        "/data/calib/robots/so101_follower/my_arm.json"
    )
    assert calibration_path("so101_leader", "l", category="teleoperators") == Path(
        "/data/calib/teleoperators/so101_leader/l.json"
    )


def test_lerobot_file_loads_and_saves_byte_identical(tmp_path):
    source = tmp_path / "lerobot.json"
    source.write_text(LEROBOT_FILE)
    calibration = load_calibration(source)
    assert list(calibration) == ["shoulder_pan", "gripper"]
    assert calibration["shoulder_pan"] == MotorCalibration(1, 0, -1470, 758, 3292)
    copy = tmp_path / "robots" / "so101_follower" / "copy.json"
    save_calibration(copy, calibration)
    assert copy.read_text() == LEROBOT_FILE


def test_missing_or_broken_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="lerobot-ros-calibrate"):
        load_calibration(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"gripper": {"id": 6, "drive_mode": 0}}))
    with pytest.raises(ValueError, match="lacks \\['homing_offset', 'range_min', 'range_max'\\]"):
        load_calibration(broken)


def test_interactive_procedure_writes_lerobots_values(follower):
    """Middle pose → half-turn homing; sweep → ranges; full-turn joints get the whole encoder."""
    with emulate_arm(follower) as emulator:
        bus = make_bus(
            follower.protocol,
            BusConfig(emulator.port),
            [Motor(j.name, j.id, j.model) for j in follower.joints],
        )
        bus.connect()
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
        bus = make_bus(
            follower.protocol,
            BusConfig(emulator.port),
            [Motor(j.name, j.id, j.model) for j in follower.joints],
        )
        bus.connect()
        with pytest.raises(ValueError, match="did not move"):
            calibrate_arm(bus, follower, wait_for_middle_pose=lambda: None, on_range_update=lambda *_: True)
        bus.disconnect()
