"""lerobot's calibration JSON: its place, a reference to it (id or path), and its exact format."""

import json
from pathlib import Path

import pytest

from lerobot_common.calibration import (
    MotorCalibration,
    calibration_path,
    calibration_root,
    load_calibration,
    resolve_calibration,
    save_calibration,
)

pytestmark = pytest.mark.timeout(30)

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


def test_a_reference_is_a_json_path_or_a_robot_id(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path))
    by_id = resolve_calibration("my_arm", "so101_leader", category="teleoperators")
    assert by_id == tmp_path / "teleoperators" / "so101_leader" / "my_arm.json"
    assert resolve_calibration("arm.json", "so101_follower") == Path("arm.json")
    assert resolve_calibration("calib/arm", "so101_follower") == Path("calib/arm")


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
    broken.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="is not a lerobot calibration"):
        load_calibration(broken)
