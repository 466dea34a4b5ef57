"""Controller outputs: the message each sends per tick, in the controller's joint order."""

import numpy as np
import pytest

pytest.importorskip("rclpy")

from lerobot_common.ros.messages import message_class
from lerobot_policy_node.outputs import OUTPUTS, ControllerOutput, register

FPS = 10.0
ACTION_JOINTS = ["a", "b", "c"]
JOINTS, ORDER = ["c", "a"], [2, 0]  # the controller takes two of the three action joints, reordered
COMMAND = np.array([1.0, 2.0, 3.0])
PLANNED = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 5.0], [3.0, 2.0, 7.0]])
STAMP = message_class("builtin_interfaces/msg/Time")(sec=7, nanosec=5)


def make(name: str) -> ControllerOutput:
    return OUTPUTS[name](JOINTS, ORDER, FPS, message_class)


def never() -> np.ndarray:
    raise AssertionError("planned() computed on a tick that does not need it")


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_every_output_names_a_real_message_type_and_describes_itself(name):
    output = make(name)
    assert output.message is message_class(OUTPUTS[name].message_type)
    assert OUTPUTS[name].description


@pytest.mark.parametrize("holding", [False, True])
def test_forward_sends_the_setpoint_every_tick_in_controller_order(holding):
    msg = make("forward").tick(COMMAND, never, new_chunk=False, holding=holding, stamp=STAMP)
    assert list(msg.data) == [3.0, 1.0]


def test_joint_state_names_its_joints_and_stamps_the_command():
    msg = make("joint_state").tick(COMMAND, never, new_chunk=True, holding=False, stamp=STAMP)
    assert list(msg.name) == JOINTS and list(msg.position) == [3.0, 1.0]
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (7, 5)


def test_trajectory_sends_the_plan_on_a_new_chunk_only():
    output = make("trajectory")
    assert output.tick(COMMAND, never, new_chunk=False, holding=False, stamp=STAMP) is None
    msg = output.tick(COMMAND, lambda: PLANNED, new_chunk=True, holding=False, stamp=STAMP)
    assert list(msg.joint_names) == JOINTS
    assert [list(p.positions) for p in msg.points] == [[3.0, 1.0], [5.0, 2.0], [7.0, 3.0]]
    assert [list(p.velocities) for p in msg.points] == [[20.0, 10.0]] * 3  # 2 and 1 per 0.1 s
    times = [p.time_from_start.sec + p.time_from_start.nanosec / 1e9 for p in msg.points]
    assert times == pytest.approx([0.1, 0.2, 0.3])


def test_trajectory_holds_with_one_point_at_rest():
    for msg in (
        make("trajectory").tick(COMMAND, never, new_chunk=True, holding=True, stamp=STAMP),
        make("trajectory").hold(COMMAND, STAMP),
    ):
        assert [list(p.positions) for p in msg.points] == [[3.0, 1.0]]
        assert list(msg.points[0].velocities) == [0.0, 0.0]


def test_a_new_output_is_one_registered_class():
    """The README's example: an output is a subclass with a name, a message type and hold() (or tick())."""

    @register
    class HalfSpeed(ControllerOutput):
        name = "half_forward"
        message_type = "std_msgs/msg/Float64MultiArray"
        description = "test: half of every setpoint"

        def hold(self, command, stamp):
            return self.message(data=[v / 2 for v in self.values(command)])

    try:
        msg = make("half_forward").tick(COMMAND, never, new_chunk=False, holding=False, stamp=STAMP)
        assert list(msg.data) == [1.5, 0.5]
    finally:
        del OUTPUTS["half_forward"]
