"""The motor model table, and a model's resolution reaching the joint units through a robot description."""

import math

import pytest

from lerobot_common.calibration import MotorCalibration
from lerobot_common.motors import MOTOR_MODELS, PROTOCOLS, MotorModel
from lerobot_common.robot_description import load_robot_description
from lerobot_common.units import NormMode

pytestmark = pytest.mark.timeout(30)


def test_models_are_consistent():
    assert all(model.protocol in PROTOCOLS and model.resolution > 1 for model in MOTOR_MODELS.values())
    numbers = [(model.protocol, model.model_number) for model in MOTOR_MODELS.values()]
    assert len(set(numbers)) == len(numbers)  # the drivers identify a servo by its model number
    assert MOTOR_MODELS["sts3215"] == MotorModel("sts3215", "feetech", 777, 4096)


def test_a_model_with_another_resolution_reaches_the_units(tmp_path, monkeypatch):
    monkeypatch.setitem(MOTOR_MODELS, "coarse", MotorModel("coarse", "feetech", 9999, 1024))
    path = tmp_path / "coarse_arm.yaml"
    path.write_text("protocol: feetech\njoints:\n  - {name: a, id: 1, model: coarse, norm_mode: degrees}\n")
    description = load_robot_description(str(path))
    joint = description.joints[0]
    units = description.joint_units(joint, MotorCalibration(1, 0, 0, range_min=0, range_max=1023))
    assert units.resolution == 1024 and units.norm_mode is NormMode.DEGREES
    assert units.ticks_to_radians(511.5 + 256) == pytest.approx(math.pi / 2)  # a quarter of 1024 ticks
