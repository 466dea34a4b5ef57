"""The teleop node over real DDS: leader joint_states in, follower JointState commands by name out."""

import uuid

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

from lerobot_common.ros.qos import COMMAND_QOS, STATE_QOS
from lerobot_drivers.ros.teleop_node import TeleopNode

pytestmark = pytest.mark.ros


def relay(ros_context, spin_until, joints: list[str]) -> list[JointState]:
    """Publish leader states until commands come back; returns the commands received."""
    prefix = f"/teleop_test_{uuid.uuid4().hex[:8]}"
    overrides = [
        Parameter("leader_topic", value=f"{prefix}/leader/joint_states"),
        Parameter("command_topic", value=f"{prefix}/arm/joint_commands"),
    ]
    if joints:
        overrides.append(Parameter("joints", value=joints))
    teleop = TeleopNode(context=ros_context, parameter_overrides=overrides)
    peer = Node("teleop_peer", context=ros_context)
    received: list[JointState] = []
    # Best effort like the drivers' command subscription, so the test sees what an arm would.
    peer.create_subscription(JointState, f"{prefix}/arm/joint_commands", received.append, COMMAND_QOS)
    leader = peer.create_publisher(JointState, f"{prefix}/leader/joint_states", STATE_QOS)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(teleop)
    executor.add_node(peer)
    state = JointState(name=["shoulder_pan", "elbow_flex", "gripper"], position=[0.1, -0.2, 0.7])
    state.header.stamp.sec = 42
    try:
        assert spin_until(executor, lambda: (leader.publish(state), bool(received))[1], timeout=15.0)
    finally:
        executor.shutdown()
        teleop.destroy_node()
        peer.destroy_node()
    return received


def test_leader_positions_become_follower_commands_by_name(ros_context, spin_until):
    command = relay(ros_context, spin_until, [])[-1]
    assert list(command.name) == ["shoulder_pan", "elbow_flex", "gripper"]
    assert list(command.position) == pytest.approx([0.1, -0.2, 0.7])
    assert command.header.stamp.sec == 42  # the leader's stamp: the action's time is when it was read


def test_joints_parameter_selects_the_relayed_joints(ros_context, spin_until):
    command = relay(ros_context, spin_until, ["gripper", "shoulder_pan"])[-1]
    assert list(command.name) == ["shoulder_pan", "gripper"]
    assert list(command.position) == pytest.approx([0.1, 0.7])
