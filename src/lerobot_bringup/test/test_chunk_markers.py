"""Chunk markers over real DDS, and the RViz config against the topics the graph publishes."""

import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from visualization_msgs.msg import Marker, MarkerArray

from lerobot_bringup.graph import load_graph
from lerobot_bringup.kinematics import UrdfModel
from lerobot_msgs.msg import ActionChunk

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[3]
URDF = ROOT / "config" / "urdf" / "so101.urdf"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
# What the external nodes of the graph publish (robot_state_publisher: the URDF and the arm's TF).
EXTERNAL_TOPICS = {"robot_state_publisher": {"/robot_description", "/tf", "/tf_static"}}


def test_chunk_becomes_an_end_effector_trail(ros_context, spin_until):
    from lerobot_bringup.ros.chunk_markers import ChunkMarkersNode

    namespace = f"/markers_test_{uuid.uuid4().hex[:8]}"
    node = ChunkMarkersNode(
        context=ros_context,
        namespace=namespace,
        parameter_overrides=[
            Parameter("urdf", value=str(URDF)),
            Parameter("chunk_topic", value=f"{namespace}/policy/action_chunk"),
        ],
    )
    peer = Node("markers_peer", namespace=namespace, context=ros_context)
    received: list[MarkerArray] = []
    peer.create_subscription(MarkerArray, "action_chunk_markers", received.append, 10)
    chunks = peer.create_publisher(ActionChunk, "policy/action_chunk", 10)
    states = peer.create_publisher(JointState, "joint_states", 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(peer)
    # The chunk leaves wrist_roll out: it comes from joint_states.
    chunk_joints = [j for j in JOINTS if j != "wrist_roll"]
    targets = np.linspace([0.0, -0.5, 0.5, 1.0, 0.3], [0.6, 0.2, -0.2, 0.4, 1.2], 8)
    chunk = ActionChunk(
        joint_names=chunk_joints, horizon=8, control_period=1 / 30, positions=targets.ravel().tolist()
    )
    try:
        assert spin_until(
            executor,
            lambda: (states.publish(JointState(name=["wrist_roll"], position=[0.9])), node.latest)[1],
        )
        assert spin_until(executor, lambda: (chunks.publish(chunk), bool(received))[1], timeout=15.0)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
    line, spheres = received[-1].markers
    assert (line.type, spheres.type) == (Marker.LINE_STRIP, Marker.SPHERE_LIST)
    assert line.header.frame_id == "base_link"
    points = np.array([[p.x, p.y, p.z] for p in line.points])
    steps = np.insert(targets, 4, 0.9, axis=1)  # wrist_roll from joint_states
    expected = UrdfModel.from_file(URDF).positions(JOINTS, steps, "gripper_tip")
    np.testing.assert_allclose(points, expected, atol=1e-9)
    assert len(spheres.points) == len(spheres.colors) == 8
    assert spheres.colors[0].a > spheres.colors[-1].a  # the next action bright, the last faded


def rviz_topics() -> set[str]:
    config = yaml.safe_load((ROOT / "config" / "rviz" / "lerobot.rviz").read_text())
    topics = set()
    for display in config["Visualization Manager"]["Displays"]:
        for key in ("Topic", "Description Topic"):
            if key in display:
                topics.add(display[key]["Value"])
    return topics


def test_rviz_shows_only_topics_the_graph_publishes(ros_context):
    from lerobot_bringup.ros.run import create_nodes

    config = yaml.safe_load((ROOT / "config" / "rviz" / "lerobot.rviz").read_text())
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == UrdfModel.from_file(URDF).root
    classes = {d["Class"] for d in config["Visualization Manager"]["Displays"]}
    assert {
        "rviz_default_plugins/RobotModel",
        "rviz_default_plugins/TF",
        "rviz_default_plugins/Image",
    } <= classes
    specs = load_graph({"robot": "sim", "policy": "/checkpoints/act", "rviz": "true"})
    published = set().union(*(EXTERNAL_TOPICS.get(s.executable, set()) for s in specs if s.python is None))
    nodes = create_nodes(specs, context=ros_context)
    try:
        published |= {publisher.topic_name for node in nodes for publisher in node.publishers}
    finally:
        for node in nodes:
            node.destroy_node()
    shown = rviz_topics()
    assert {"/front/image_raw", "/wrist/image_raw", "/action_chunk_markers", "/robot_description"} <= shown
    assert shown <= published, f"RViz shows topics nothing publishes: {sorted(shown - published)}"
