"""Fixtures of lerobot_drivers' tests: emulated arms on pseudo-terminals, isolated calibration folders.

DDS isolation (also set by the workspace's conftest.py; kept here so the package's tests are safe when run
on their own): a random ROS domain and localhost-only discovery, before any test initialises rclpy.
"""

import gc
import os
import random
import sys
from pathlib import Path

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from lerobot_common.calibration import MotorCalibration
from lerobot_common.robot_description import RobotDescription, load_robot_description

# A calibration as lerobot writes it for an SO-101 follower (values from a real arm's file).
SO101_CALIBRATION = {
    "shoulder_pan": MotorCalibration(id=1, drive_mode=0, homing_offset=-1470, range_min=758, range_max=3292),
    "shoulder_lift": MotorCalibration(id=2, drive_mode=0, homing_offset=157, range_min=833, range_max=3227),
    "elbow_flex": MotorCalibration(id=3, drive_mode=0, homing_offset=1058, range_min=874, range_max=3077),
    "wrist_flex": MotorCalibration(id=4, drive_mode=0, homing_offset=-163, range_min=883, range_max=3231),
    "wrist_roll": MotorCalibration(id=5, drive_mode=0, homing_offset=-1102, range_min=163, range_max=3957),
    "gripper": MotorCalibration(id=6, drive_mode=0, homing_offset=1309, range_min=2024, range_max=3446),
}
KOCH_CALIBRATION = {
    "shoulder_pan": MotorCalibration(id=1, drive_mode=0, homing_offset=-1024, range_min=0, range_max=4095),
    "shoulder_lift": MotorCalibration(id=2, drive_mode=0, homing_offset=512, range_min=1090, range_max=3093),
    "elbow_flex": MotorCalibration(id=3, drive_mode=0, homing_offset=-300, range_min=950, range_max=3120),
    "wrist_flex": MotorCalibration(id=4, drive_mode=0, homing_offset=25, range_min=1010, range_max=3140),
    "wrist_roll": MotorCalibration(id=5, drive_mode=0, homing_offset=-2000, range_min=0, range_max=4095),
    "gripper": MotorCalibration(id=6, drive_mode=0, homing_offset=100, range_min=2000, range_max=3100),
}
CALIBRATIONS = {"so101_follower": SO101_CALIBRATION, "koch_follower": KOCH_CALIBRATION}


@pytest.fixture(autouse=True)
def quick_thread_switching():
    """The emulator serves from a thread of the test process, beside the SDK's busy-polling reads. Switching
    threads every 0.1 ms instead of CPython's 5 ms keeps its replies well inside the SDK's ~34 ms timeouts
    even on a loaded machine (real servos are not behind our GIL)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    # After hundreds of tests the process holds millions of objects (torch, transformers): a full garbage
    # collection then stops every thread for longer than those timeouts; freezing what exists avoids that.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()
    sys.setswitchinterval(previous)


@pytest.fixture
def calibration_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty lerobot calibration root, so tests never read or write the user's calibrations."""
    root = tmp_path / "calibration"
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(root))
    return root


@pytest.fixture(params=["so101_follower", "koch_follower"], ids=["feetech", "dynamixel"])
def follower(request) -> RobotDescription:
    """Each follower arm in turn: the Feetech SO-101 and the Dynamixel Koch."""
    return load_robot_description(request.param)


@pytest.fixture
def follower_calibration(follower: RobotDescription) -> dict[str, MotorCalibration]:
    return CALIBRATIONS[follower.name]


@pytest.fixture
def so101_calibration() -> dict[str, MotorCalibration]:
    return SO101_CALIBRATION


@pytest.fixture
def koch_calibration() -> dict[str, MotorCalibration]:
    return KOCH_CALIBRATION
