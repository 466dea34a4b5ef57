"""The robot descriptions in config/robots/ load, agree with lerobot's naming, and bad ones are explained."""

import pytest

from lerobot_common.robot_description import find_robot_description, load_robot_description
from lerobot_common.units import NormMode

pytestmark = pytest.mark.timeout(30)

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


@pytest.mark.parametrize(
    ("name", "protocol", "role", "category"),
    [
        ("so101_follower", "feetech", "follower", "robots"),
        ("so101_leader", "feetech", "leader", "teleoperators"),
        ("koch_follower", "dynamixel", "follower", "robots"),
        ("koch_leader", "dynamixel", "leader", "teleoperators"),
    ],
)
def test_shipped_descriptions(name, protocol, role, category):
    description = load_robot_description(name)
    assert description.lerobot_type == name
    assert (description.protocol, description.role, description.calibration_category) == (
        protocol,
        role,
        category,
    )
    assert description.joint_names == JOINTS
    assert [joint.id for joint in description.joints] == [1, 2, 3, 4, 5, 6]
    assert description.baudrate == 1_000_000
    modes = [joint.norm_mode for joint in description.joints]
    assert modes == [NormMode.DEGREES] * 5 + [NormMode.RANGE_0_100]


def test_so101_follower_limits_and_gripper_protection():
    description = load_robot_description("so101_follower")
    pan, gripper = description.joints[0], description.joints[5]
    assert pan.limits == (-1.91986, 1.91986) and gripper.limits is None
    assert gripper.settings["Max_Torque_Limit"] == 500 and gripper.settings["P_Coefficient"] == 16


def test_koch_modes_and_full_turn_joints():
    description = load_robot_description("koch_follower")
    assert [j.settings["Operating_Mode"] for j in description.joints] == [4, 4, 4, 4, 4, 5]
    assert [j.name for j in description.joints if j.full_turn] == ["shoulder_pan", "wrist_roll"]


def test_unknown_robot_and_invalid_description_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"known robots are .*so101_follower"):
        find_robot_description("so42")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "protocol: feetech\njoints:\n  - {name: a, id: 1, model: xl330-m288, norm_mode: degrees}\n"
    )
    with pytest.raises(ValueError, match="not a known feetech model"):
        load_robot_description(str(bad))


def test_one_path_rule_for_every_caller(tmp_path, monkeypatch):
    """A `.yaml` name or a name with a separator is a path; anything else a name, first in
    $LEROBOT_ROS_ROBOTS_DIR, then config/robots/."""
    text = "protocol: feetech\njoints:\n  - {name: a, id: 1, model: sts3215, norm_mode: range_0_100}\n"
    (tmp_path / "mine.yaml").write_text(text)
    (tmp_path / "so101_follower.yaml").write_text(text)  # shadows the shipped one
    (tmp_path / "no_suffix").write_text(text)
    assert find_robot_description(str(tmp_path / "no_suffix")) == tmp_path / "no_suffix"
    assert load_robot_description(str(tmp_path / "mine.yaml")).name == "mine"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_robot_description("elsewhere/mine.yaml")
    monkeypatch.setenv("LEROBOT_ROS_ROBOTS_DIR", str(tmp_path))
    assert find_robot_description("mine") == tmp_path / "mine.yaml"
    assert load_robot_description("so101_follower").joint_names == ["a"]
    monkeypatch.delenv("LEROBOT_ROS_ROBOTS_DIR")
    assert find_robot_description("so101_follower") != tmp_path / "so101_follower.yaml"


def test_unreadable_yaml_is_a_value_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("protocol: [feetech\n")
    with pytest.raises(ValueError, match="invalid robot description"):
        load_robot_description(str(bad))
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_robot_description(str(bad))
