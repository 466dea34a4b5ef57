"""Radians ↔ dataset units (degrees, lerobot's calibrated units): known values, round trips, clear errors."""

import json
import math
import textwrap

import numpy as np
import pytest

from lerobot_dataset.mapping import MappingError, parse_mapping
from lerobot_dataset.units import FeatureUnits, MappingUnits, mapping_units

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
# A real SO-101 calibration's shape: ranges in present-position ticks, homing offsets already applied.
CALIBRATION = {
    "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1470, "range_min": 758, "range_max": 3292},
    "shoulder_lift": {"id": 2, "drive_mode": 0, "homing_offset": 1387, "range_min": 818, "range_max": 3175},
    "elbow_flex": {"id": 3, "drive_mode": 0, "homing_offset": -1179, "range_min": 913, "range_max": 3113},
    "wrist_flex": {"id": 4, "drive_mode": 0, "homing_offset": 1232, "range_min": 862, "range_max": 3200},
    "wrist_roll": {"id": 5, "drive_mode": 0, "homing_offset": -1902, "range_min": 152, "range_max": 3975},
    "gripper": {"id": 6, "drive_mode": 0, "homing_offset": 1411, "range_min": 2024, "range_max": 3446},
}


def mapping_text(spec: str) -> str:
    """A mapping whose observation.state has ``spec`` (its units keys); the action stays in radians."""
    state = f"{{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}, {spec}}}"
    return textwrap.dedent(
        f"""
        name: t
        robot_type: so101
        fps: 30
        features:
          observation.state: {state}
          action: {{topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS}}}
        """
    )


def lerobot_units(calibration, robot: str = "so101_follower") -> str:
    return mapping_text(f"units: lerobot, robot: {robot}, calibration: {calibration}")


@pytest.fixture
def calibration_file(tmp_path):
    path = tmp_path / "my_arm.json"
    path.write_text(json.dumps(CALIBRATION, indent=4))
    return path


def test_nan_stays_nan_in_degrees():
    units = FeatureUnits("action", "degrees")
    assert np.isnan(units.to_ros(np.array([np.nan, 1.0]))[0])


def test_degrees_and_radians_features():
    radians = np.array([[0.0, math.pi / 2, -math.pi]])
    degrees = FeatureUnits("observation.state", "degrees")
    np.testing.assert_allclose(degrees.to_dataset(radians), [[0.0, 90.0, -180.0]])
    np.testing.assert_allclose(degrees.to_ros(degrees.to_dataset(radians)), radians, atol=1e-12)
    unchanged = MappingUnits({"observation.state": FeatureUnits("observation.state")})
    assert not unchanged and unchanged.to_dataset("observation.state", radians) is radians


def test_mapping_with_lerobot_units_uses_the_robot_and_its_calibration(calibration_file):
    mapping = parse_mapping(lerobot_units(calibration_file))
    assert mapping.features["observation.state"].units == "lerobot"
    assert mapping.features["action"].units == "radians"
    units = mapping_units(mapping)
    radians = np.array([0.0, 0.5, -0.5, 1.0, 0.0, 0.0])  # gripper at the middle of its range
    values = units.to_dataset("observation.state", radians)
    middle = (2024 + 3446) / 2
    np.testing.assert_allclose(
        values[:5], radians[:5] * 4096 / (2 * math.pi) * 360 / 4095
    )  # sts3215: DEGREES
    assert values[5] == pytest.approx((middle - 2024) / (3446 - 2024) * 100)  # the gripper: RANGE_0_100
    np.testing.assert_allclose(units.to_ros("observation.state", values), radians, atol=1e-9)
    assert units.to_dataset("action", radians) is radians  # unchanged


def test_calibration_by_robot_id_in_lerobots_folder(tmp_path, monkeypatch):
    folder = tmp_path / "calibration" / "robots" / "so101_follower"
    folder.mkdir(parents=True)
    (folder / "my_arm.json").write_text(json.dumps(CALIBRATION))
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path / "calibration"))
    units = mapping_units(parse_mapping(lerobot_units("my_arm")))
    assert units.features["observation.state"].joints[0].range_min == 758


def test_clear_errors(tmp_path, calibration_file):
    with pytest.raises(MappingError, match=r"units: lerobot needs 'robot: .*' and 'calibration: "):
        parse_mapping(mapping_text("units: lerobot, robot: so101_follower"))
    with pytest.raises(MappingError, match="only go with units: lerobot"):
        parse_mapping(mapping_text("units: degrees, calibration: x"))
    with pytest.raises(MappingError, match="'units' must be one of"):
        parse_mapping(mapping_text("units: ticks"))
    missing = parse_mapping(lerobot_units(tmp_path / "nowhere.json"))
    with pytest.raises(MappingError, match=r"no calibration at .*nowhere.json: calibrate this arm"):
        mapping_units(missing)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({k: v for k, v in CALIBRATION.items() if k != "gripper"}))
    with pytest.raises(MappingError, match=r"has no joint\(s\) \['gripper'\].*calibrate this arm again"):
        mapping_units(parse_mapping(lerobot_units(partial)))
    unknown = parse_mapping(lerobot_units(calibration_file, robot="no_such_robot"))
    with pytest.raises(
        MappingError, match=r"no robot description named 'no_such_robot': known robots are .*so101_"
    ):
        mapping_units(unknown)
