"""Mapping files: the shared topic ↔ feature wiring, with errors that name the key to fix."""

import textwrap

import pytest

from lerobot_dataset.mapping import MappingError, load_mapping, parse_mapping

GOOD = textwrap.dedent(
    """
    name: arm
    robot_type: so101
    fps: 30
    task: Pick.
    features:
      observation.state: {topic: /joint_states, type: sensor_msgs/msg/JointState, joints: [a, b]}
      action: {topic: /cmd, type: std_msgs/msg/Float64MultiArray, joints: [a, b], sync: nearest,
               tolerance: 0.05}
      observation.images.front: {topic: /front/image_raw, type: sensor_msgs/msg/Image}
    record_also: [/tf]
    """
)


def test_parses_features_and_topics():
    mapping = parse_mapping(GOOD)
    assert (mapping.name, mapping.robot_type, mapping.fps, mapping.storage) == ("arm", "so101", 30, "mcap")
    assert mapping.features["action"].joints == ("a", "b")
    assert (mapping.features["action"].sync, mapping.features["action"].tolerance) == ("nearest", 0.05)
    assert mapping.features["observation.images.front"].is_image
    assert mapping.topics() == {
        "/joint_states": "sensor_msgs/msg/JointState",
        "/cmd": "std_msgs/msg/Float64MultiArray",
        "/front/image_raw": "sensor_msgs/msg/Image",
        "/tf": "",
    }
    assert mapping.source_text == GOOD


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("fps: 30", "fps: 29.97"), "'fps' must be a int"),
        (("fps: 30", "fps: 0"), "positive integer"),
        (("observation.state:", "observation/state:"), "cannot contain '/'"),
        (("action:", "actions:"), "no 'action' feature"),
        (("joints: [a, b]}", "joints: [a, a]}"), "distinct joint names"),
        (("sensor_msgs/msg/Image}", "sensor_msgs/msg/PointCloud2}"), "is not supported"),
        (("sync: nearest", "sync: interpolate"), "'sync' must be one of"),
        (("tolerance: 0.05", "tolerance: -1"), "positive number of seconds"),
        (("robot_type: so101", "robot: so101"), "unknown key(s) ['robot']"),
        (("observation.images.front:", "observation.front:"), "image topics map to observation.images"),
    ],
)
def test_bad_mappings_name_the_problem(change, message):
    with pytest.raises(
        MappingError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        parse_mapping(GOOD.replace(*change))


def test_load_by_path_and_unknown_name(tmp_path):
    path = tmp_path / "arm.yaml"
    path.write_text(GOOD)
    assert load_mapping(path).name == "arm"
    with pytest.raises(MappingError, match="no mapping named 'nope'"):
        load_mapping("nope")
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "missing.yaml")
