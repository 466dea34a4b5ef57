"""Ticks ↔ radians ↔ lerobot units: values computed by hand, round trips for every mode, arrays and NaN."""

import math

import numpy as np
import pytest

from lerobot_common.units import JointUnits, NormMode, round_ticks

pytestmark = pytest.mark.timeout(30)

# shoulder_pan of a real SO-101 calibration: range 758..3292, middle (758 + 3292) / 2 = 2025.
PAN = JointUnits(range_min=758, range_max=3292, norm_mode=NormMode.DEGREES, resolution=4096)


def test_ticks_to_radians_from_the_middle_of_the_range():
    assert PAN.ticks_to_radians(2025) == 0.0
    assert PAN.ticks_to_radians(2025 + 1024) == pytest.approx(math.pi / 2)  # a quarter of 4096 ticks
    assert PAN.ticks_to_radians(2025 - 2048) == pytest.approx(-math.pi)
    assert PAN.radians_to_ticks(math.pi / 2) == pytest.approx(3049)
    assert PAN.radian_limits == pytest.approx(
        ((758 - 2025) * math.tau / 4096, (3292 - 2025) * math.tau / 4096)
    )


def test_degrees_use_lerobots_4095_denominator():
    assert PAN.ticks_to_lerobot(3049) == pytest.approx(1024 * 360 / 4095)  # 90.02198°, not 90°
    assert PAN.ticks_to_lerobot(5000) == pytest.approx((5000 - 2025) * 360 / 4095)  # DEGREES do not clamp
    assert PAN.lerobot_to_ticks(90.0) == pytest.approx(3048.75)  # 90 · 4095 / 360 + 2025
    assert round_ticks(PAN.lerobot_to_ticks(90.0)) == 3049
    assert PAN.radians_to_lerobot(math.pi / 2) == pytest.approx(90.02197802197803)
    assert PAN.lerobot_to_radians(90.02197802197803) == pytest.approx(math.pi / 2)


def test_range_m100_100():
    joint = JointUnits(758, 3292, NormMode.RANGE_M100_100, 4096)
    assert [joint.ticks_to_lerobot(t) for t in (758, 1391.5, 2025, 3292)] == pytest.approx(
        [-100, -50, 0, 100]
    )
    assert joint.ticks_to_lerobot(100) == -100 and joint.ticks_to_lerobot(4000) == 100  # clamped
    assert joint.lerobot_to_ticks(50) == pytest.approx(2658.5)  # (50 + 100) / 200 · 2534 + 758
    assert joint.lerobot_to_ticks(150) == 3292
    flipped = JointUnits(758, 3292, NormMode.RANGE_M100_100, 4096, drive_mode=1)
    assert flipped.ticks_to_lerobot(1391.5) == pytest.approx(50)
    assert flipped.lerobot_to_ticks(50) == pytest.approx(1391.5)


def test_range_0_100_and_drive_mode_only_where_lerobot_applies_it():
    gripper = JointUnits(2024, 3446, NormMode.RANGE_0_100, 4096)
    assert gripper.ticks_to_lerobot(2024) == 0 and gripper.ticks_to_lerobot(3446) == 100
    assert gripper.ticks_to_lerobot(2735) == pytest.approx(50)  # (2735 − 2024) / 1422 · 100
    assert gripper.lerobot_to_ticks(25) == pytest.approx(2379.5)
    feetech_flipped = JointUnits(2024, 3446, NormMode.RANGE_0_100, 4096, drive_mode=1, apply_drive_mode=True)
    assert feetech_flipped.ticks_to_lerobot(2024) == 100
    dynamixel_flipped = JointUnits(
        2024, 3446, NormMode.RANGE_0_100, 4096, drive_mode=1, apply_drive_mode=False
    )
    assert dynamixel_flipped.ticks_to_lerobot(2024) == 0


def every_mode():
    for mode in NormMode:
        for drive_mode in (0, 1):
            for apply in (True, False):
                yield JointUnits(900, 3100, mode, 4096, drive_mode=drive_mode, apply_drive_mode=apply)


@pytest.mark.parametrize("joint", list(every_mode()), ids=str)
def test_round_trip_radians_to_lerobot_and_back(joint):
    low, high = joint.radian_limits
    radians = np.linspace(low, high, 101)
    back = joint.lerobot_to_radians(joint.radians_to_lerobot(radians))
    np.testing.assert_allclose(back, radians, rtol=0, atol=1e-9)
    values = joint.radians_to_lerobot(radians)
    np.testing.assert_allclose(joint.radians_to_lerobot(joint.lerobot_to_radians(values)), values, atol=1e-9)
    for radian in (-1.2, -0.3, 0.0, 0.7, 1.6):  # one number at a time, as the drivers convert
        assert joint.lerobot_to_radians(joint.radians_to_lerobot(radian)) == pytest.approx(radian)


def test_nan_stays_nan_both_ways():
    for joint in every_mode():
        assert math.isnan(joint.radians_to_lerobot(np.nan)) and math.isnan(joint.lerobot_to_radians(np.nan))


def test_resolution_is_the_motor_models():
    """A quarter turn is a quarter of the model's ticks; DEGREES divide by resolution − 1 as lerobot does."""
    coarse = JointUnits(0, 1023, NormMode.DEGREES, resolution=1024)  # middle 511.5
    assert coarse.ticks_to_radians(511.5 + 256) == pytest.approx(math.pi / 2)
    assert coarse.ticks_to_lerobot(511.5 + 256) == pytest.approx(256 * 360 / 1023)
    assert coarse.radians_to_lerobot(math.pi / 2) == pytest.approx(90 * 1024 / 1023)


def test_empty_range_is_refused():
    with pytest.raises(ValueError, match="recalibrate"):
        JointUnits(2000, 2000, NormMode.DEGREES, 4096)


def test_round_ticks_rounds_halves_away_from_zero():
    assert [round_ticks(v) for v in (2.5, 3.5, -2.5, 2.49, -0.4)] == [3, 4, -3, 2, 0]
