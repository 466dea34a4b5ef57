"""Radians ↔ dataset units (degrees, lerobot's calibrated units): known values, round trips, clear errors."""

import json
import math
import textwrap

import numpy as np
import pytest

from lerobot_dataset.mapping import MappingError, parse_mapping
from lerobot_dataset.units import (
    RESOLUTION,
    FeatureUnits,
    JointUnits,
    MappingUnits,
    NormMode,
    mapping_units,
)

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


def every_mode():
    for mode in NormMode:
        for drive_mode in (0, 1):
            for apply in (True, False):
                yield JointUnits(900, 3100, mode, drive_mode=drive_mode, apply_drive_mode=apply)


@pytest.mark.parametrize("joint", list(every_mode()), ids=str)
def test_round_trip_radians_to_lerobot_and_back(joint):
    low, high = (joint.ticks_to_radians(t) for t in (joint.range_min, joint.range_max))
    radians = np.linspace(low, high, 101)
    back = joint.lerobot_to_radians(joint.radians_to_lerobot(radians))
    np.testing.assert_allclose(back, radians, rtol=0, atol=1e-9)
    values = joint.radians_to_lerobot(radians)
    np.testing.assert_allclose(joint.radians_to_lerobot(joint.lerobot_to_radians(values)), values, atol=1e-9)


def test_known_values_match_lerobots_formulas():
    pan = JointUnits(758, 3292, NormMode.DEGREES)  # middle 2025
    assert pan.radians_to_lerobot(0.0) == 0.0  # the middle of the range is 0°
    assert pan.ticks_to_lerobot(2025 + 1024) == pytest.approx(1024 * 360 / 4095)  # lerobot's 4095 denominator
    assert pan.radians_to_lerobot(math.pi / 2) == pytest.approx(90 * 4096 / 4095)  # a quarter turn
    ranged = JointUnits(758, 3292, NormMode.RANGE_M100_100)
    assert ranged.radians_to_lerobot(0.0) == 0.0  # the raw middle ↔ 0
    assert ranged.ticks_to_lerobot(758) == -100 and ranged.ticks_to_lerobot(3292) == 100
    assert ranged.ticks_to_lerobot(1391.5) == -50
    flipped = JointUnits(758, 3292, NormMode.RANGE_M100_100, drive_mode=1)
    assert flipped.ticks_to_lerobot(758) == 100  # negated with the drive mode (Feetech)
    gripper = JointUnits(2024, 3446, NormMode.RANGE_0_100)
    assert gripper.ticks_to_lerobot(2024) == 0 and gripper.ticks_to_lerobot(3446) == 100  # range_min ↔ 0
    assert gripper.lerobot_to_ticks(50) == 2735
    assert JointUnits(2024, 3446, NormMode.RANGE_0_100, drive_mode=1).ticks_to_lerobot(2024) == 100
    dynamixel = JointUnits(2024, 3446, NormMode.RANGE_0_100, drive_mode=1, apply_drive_mode=False)
    assert dynamixel.ticks_to_lerobot(2024) == 0  # lerobot's Dynamixel bus ignores the drive mode
    assert gripper.ticks_to_lerobot(100) == 0 and gripper.ticks_to_lerobot(4000) == 100  # clamped as lerobot


def test_nan_stays_nan_both_ways():
    for joint in every_mode():
        assert math.isnan(joint.radians_to_lerobot(np.nan)) and math.isnan(joint.lerobot_to_radians(np.nan))
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
    np.testing.assert_allclose(values[:5], radians[:5] * RESOLUTION / (2 * math.pi) * 360 / 4095)  # DEGREES
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
    with pytest.raises(MappingError, match=r"no calibration at .*nowhere.json: calibrate the arm"):
        mapping_units(missing)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({k: v for k, v in CALIBRATION.items() if k != "gripper"}))
    with pytest.raises(MappingError, match=r"has no joint\(s\) \['gripper'\].*calibrate this arm again"):
        mapping_units(parse_mapping(lerobot_units(partial)))
    unknown = parse_mapping(lerobot_units(calibration_file, robot="no_such_robot"))
    with pytest.raises(MappingError, match=r"no robot description named 'no_such_robot'; known: .*so101_"):
        mapping_units(unknown)


def test_same_formulas_as_the_drivers():
    """The drivers keep their own copy (they may not import lerobot_dataset): both must agree exactly."""
    drivers = pytest.importorskip("lerobot_drivers.units")
    ticks = np.linspace(-500, 4500, 77)
    for ours in every_mode():
        theirs = drivers.JointUnits(
            ours.range_min, ours.range_max, drivers.NormMode(ours.norm_mode.value), ours.resolution,
            ours.drive_mode, ours.apply_drive_mode,
        )  # fmt: skip
        for tick in ticks:
            value = ours.ticks_to_lerobot(tick)
            assert value == theirs.ticks_to_lerobot(tick)
            assert ours.lerobot_to_ticks(value) == theirs.lerobot_to_ticks(value)
            assert ours.ticks_to_radians(tick) == theirs.ticks_to_radians(tick)
