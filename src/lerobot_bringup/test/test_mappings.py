"""The recording mappings of the bringup graphs (config/mappings): `record:=true teleop:=true` records each
robot with a mapping whose joints are its description's, whose every topic the graph publishes, and on which
a trained policy commands the follower where the follower listens."""

import importlib
import inspect

import pytest
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

from lerobot_bringup.graph import load_graph
from lerobot_common.robot_description import load_robot_description
from lerobot_dataset.mapping import load_mapping
from lerobot_policy_node.observation import check_mapping

RECORD = {"record": "true", "teleop": "true"}
# robot:= → the recording profile with teleoperation
PROFILES = {"sim": "so101_sim_teleop", "so101": "so101", "koch": "koch"}
# Topics the hardware drivers publish and take, relative to their node (their constructors open a bus or a
# camera: stand-ins with the spec's name, namespace and remappings resolve them; checked against the source).
DRIVERS = {
    "lerobot_drivers.ros.arm_node:ArmNode": (
        {"joint_states": JointState},
        {"arm/commands": Float64MultiArray, "arm/joint_commands": JointState},
    ),
    "lerobot_drivers.ros.camera_node:CameraNode": ({"~/color/image_raw": Image}, {}),
}


def by_name(specs, full_name: str):
    return next(s for s in specs if s.full_name == full_name)


@pytest.mark.parametrize("robot", sorted(PROFILES))
def test_record_with_teleop_uses_a_mapping_of_the_robots_joints(robot):
    specs = load_graph({"robot": robot, **RECORD})
    mapping = load_mapping(by_name(specs, "/recorder").parameters["profile"])
    assert mapping.name == PROFILES[robot] and mapping.fps == 30 and mapping.task
    leader = load_robot_description(by_name(specs, "/leader/arm").parameters["robot"])
    action = mapping.features["action"]
    # What teleoperation records, as lerobot does: the leader's positions, by joint name.
    assert (action.topic, action.type) == ("/leader/joint_states", "sensor_msgs/msg/JointState")
    assert list(action.joints) == leader.joint_names
    assert {n for n in mapping.features if n.startswith("observation.images.")} == {
        "observation.images.front",
        "observation.images.wrist",
    }
    if robot == "sim":  # the sim's own mapping, the action aside
        sim = load_mapping("so101_sim")
        assert {k: v for k, v in mapping.features.items() if k != "action"} == {
            k: v for k, v in sim.features.items() if k != "action"
        }
        assert (mapping.robot_type, mapping.record_also) == (sim.robot_type, sim.record_also)
        assert by_name(load_graph({"robot": "sim", "record": "true"}), "/recorder").parameters == {
            "profile": "so101_sim"
        }
        return
    follower = load_robot_description(by_name(specs, "/arm").parameters["robot"])
    assert mapping.robot_type == follower.lerobot_type == f"{robot}_follower"
    assert list(mapping.features["observation.state"].joints) == follower.joint_names
    # The policy's actions go to the follower's arm/commands in this order: the follower's own.
    assert list(action.joints) == follower.joint_names


@pytest.mark.parametrize("robot", ["so101", "koch"])
def test_a_policy_trained_on_the_mapping_fits_it(robot):
    """A checkpoint trained on a dataset of this mapping (it carries the mapping) deploys on it."""
    mapping = load_mapping(PROFILES[robot])
    joints = len(mapping.features["observation.state"].joints)
    inputs = {"observation.state": {"type": "STATE", "shape": [joints]}}
    inputs |= {
        name: {"type": "VISUAL", "shape": [3, 480, 640]}
        for name in mapping.features
        if name.startswith("observation.images.")
    }
    outputs = {"action": {"type": "ACTION", "shape": [len(mapping.features["action"].joints)]}}
    assert check_mapping(mapping, inputs, outputs, trained=mapping) == []


def graph_topics(specs, context) -> tuple[set[str], dict[str, dict[str, type]]]:
    """(topics our nodes of ``specs`` publish, full node name → {topic: type} it subscribes to)."""
    from rclpy.node import Node

    from lerobot_bringup.ros.run import node_class, node_options, python_specs

    published: set[str] = set()
    subscribed: dict[str, dict[str, type]] = {}
    for spec in python_specs(specs):
        options = node_options(spec, context)
        if spec.python in DRIVERS:
            publishes, takes = DRIVERS[spec.python]
            source = inspect.getsource(importlib.import_module(spec.python.partition(":")[0]))
            assert all(f'"{topic}"' in source for topic in [*publishes, *takes]), spec.python
            node = Node(spec.name, **{k: v for k, v in options.items() if k != "parameter_overrides"})
            for topic, msgtype in publishes.items():
                node.create_publisher(msgtype, topic, 1)
            for topic, msgtype in takes.items():
                node.create_subscription(msgtype, topic, lambda _: None, 1)
        else:
            node = node_class(spec)(**options)
        try:
            published |= {p.topic_name for p in node.publishers}
            subscribed[spec.full_name] = {s.topic_name: s.msg_type for s in node.subscriptions}
        finally:
            node.destroy_node()
    return published, subscribed


@pytest.mark.ros
@pytest.mark.parametrize("robot", sorted(PROFILES))
def test_the_graph_publishes_every_recorded_topic(robot, ros_context, tmp_path):
    specs = load_graph({"robot": robot, **RECORD}, {"recorder.output_dir": str(tmp_path)})
    published, subscribed = graph_topics(specs, ros_context)
    mapping = load_mapping(by_name(specs, "/recorder").parameters["profile"])
    missing = sorted(set(mapping.topics()) - published)
    assert not missing, f"{mapping.name} records topics the {robot} graph does not publish: {missing}"
    # The teleop node reads the leader and drives the follower (the sim, or the arm) by joint name.
    teleop = by_name(specs, "/teleop").parameters
    assert subscribed["/teleop"].get("/leader/joint_states") is JointState
    assert subscribed["/sim" if robot == "sim" else "/arm"].get(teleop["command_topic"]) is JointState

    if robot == "sim":
        return
    # controller:=direct: a policy sends its commands where the follower takes them, in the type it takes.
    from lerobot_common.ros.messages import message_class
    from lerobot_policy_node.outputs import OUTPUTS

    policy = by_name(load_graph({"robot": robot, "policy": "/ckpt"}), "/policy").parameters
    sent = message_class(OUTPUTS[policy["output"]].message_type)
    assert subscribed["/arm"].get(policy["command_topic"]) is sent
