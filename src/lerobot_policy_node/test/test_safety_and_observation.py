"""Safety filter (limits, steps, NaN) and observation assembly (staleness, the checkpoint check)."""

import textwrap

import numpy as np
import pytest

from lerobot_dataset.images import ImageSizeError, must_resize
from lerobot_dataset.mapping import parse_mapping
from lerobot_policy_node.observation import ObservationBuffer, StaleObservation, check_mapping
from lerobot_policy_node.safety import SafetyFilter, SafetyLimits


def test_nan_and_inf_are_never_sent():
    safety = SafetyFilter(SafetyLimits(), start=np.zeros(3))
    command, events = safety.filter(np.array([0.1, np.nan, 0.2]))
    assert command.tolist() == [0, 0, 0] and "non-finite" in events[0]
    command, _ = safety.filter(np.array([0.1, 0.1, 0.2]))
    command, events = safety.filter(np.array([np.inf, 0.0, 0.0]))
    assert command.tolist() == [0.1, 0.1, 0.2] and events  # holds the last safe command


def test_no_safe_command_without_a_measured_position():
    safety = SafetyFilter(SafetyLimits(max_step=0.1))
    assert safety.hold() is None and not safety.started
    with pytest.raises(RuntimeError, match="no measured position"):
        safety.filter(np.zeros(2))
    safety.reset(np.array([1.5, 1.5]))
    assert safety.filter(np.zeros(2))[0] == pytest.approx([1.4, 1.4])  # steps count from the measured pose
    safety.reset(np.array([np.nan, 1.5]))  # not a measurement: forget the old pose rather than trust it
    assert safety.hold() is None


def test_limits_and_step_bound():
    limits = SafetyLimits(lower=np.array([-1.0, 0.0]), upper=np.array([1.0, 0.5]), max_step=0.1)
    safety = SafetyFilter(limits, start=np.array([0.0, 0.2]))
    command, events = safety.filter(np.array([5.0, 0.25]))
    assert command == pytest.approx([0.1, 0.25]) and "clamped" in events[0] and "step" in events[1]
    for _ in range(20):
        command, _ = safety.filter(np.array([5.0, -3.0]))
    assert command == pytest.approx([1.0, 0.0])  # reaches the limits, never beyond, 0.1 rad per tick
    with pytest.raises(ValueError, match="2 joints"):
        safety.filter(np.zeros(3))


MAPPING = parse_mapping(
    textwrap.dedent(
        """
        name: arm
        robot_type: so101
        fps: 30
        features:
          observation.state: {topic: /joint_states, type: sensor_msgs/msg/JointState, joints: [a, b, c]}
          action: {topic: /cmd, type: std_msgs/msg/Float64MultiArray, joints: [a, b, c]}
          observation.images.front: {topic: /front/image_raw, type: sensor_msgs/msg/Image}
        """
    )
)
INPUTS = {
    "observation.state": {"type": "STATE", "shape": [3]},
    "observation.images.front": {"type": "VISUAL", "shape": [3, 48, 64]},
}
OUTPUTS = {"action": {"type": "ACTION", "shape": [3]}}


def test_mapping_matching_the_checkpoint_passes():
    assert check_mapping(MAPPING, INPUTS, OUTPUTS) == []


def test_renamed_camera_and_wrong_joint_count_are_refused_with_reasons():
    inputs = {**INPUTS, "observation.images.top": INPUTS["observation.images.front"]}
    inputs["observation.state"] = {"type": "STATE", "shape": [6]}
    problems = check_mapping(MAPPING, inputs, {"action": {"type": "ACTION", "shape": [6]}})
    assert any("needs 'observation.images.top'" in p and "observation.images.front" in p for p in problems)
    assert any("expects 6 values, the mapping lists 3 joints (a, b, c)" in p for p in problems)
    assert any("outputs 6 values" in p for p in problems)


def test_stale_and_missing_streams_are_named():
    buffer = ObservationBuffer(["observation.state", "observation.images.front"], staleness_s=0.5)
    with pytest.raises(StaleObservation, match=r"observation\.state: no message yet"):
        buffer.assemble(now=10.0)
    buffer.update("observation.state", np.zeros(3), stamp=9.9, received=10.0)
    buffer.update("observation.images.front", np.zeros((2, 2, 3)), stamp=9.95, received=10.0)
    observation, stamp = buffer.assemble(now=10.2)
    assert set(observation) == {"observation.state", "observation.images.front"} and stamp == 9.95
    buffer.update("observation.state", np.ones(3), stamp=10.5, received=10.6)
    with pytest.raises(StaleObservation, match=r"front: last message 0\.80 s ago \(limit 0\.50 s\)"):
        buffer.assemble(now=10.8)


def test_joint_order_must_match_the_trained_mapping():
    trained = parse_mapping(MAPPING.source_text.replace("joints: [a, b, c]}", "joints: [c, b, a]}"))
    problems = check_mapping(MAPPING, INPUTS, OUTPUTS, trained)
    assert (
        "'observation.state': trained with joints ['c', 'b', 'a'], the mapping gives ['a', 'b', 'c']"
        in problems
    )
    assert check_mapping(MAPPING, INPUTS, OUTPUTS, MAPPING) == []


def test_non_finite_state_is_rejected_until_a_finite_one_arrives():
    buffer = ObservationBuffer(["observation.state"], staleness_s=0.5)
    buffer.update("observation.state", np.zeros(3), stamp=10.0, received=10.0)
    assert buffer.update("observation.state", np.array([np.nan, 0, 0]), stamp=10.1, received=10.1)
    with pytest.raises(StaleObservation, match=r"rejected: non-finite values \[nan, 0\.0, 0\.0\]"):
        buffer.assemble(now=10.1)  # the older finite sample is not used either: the robot now says nonsense
    assert buffer.update("observation.state", np.ones(3), stamp=10.2, received=10.2) == ""
    assert buffer.assemble(now=10.2)[0]["observation.state"].tolist() == [1, 1, 1]


def test_stream_statistics():
    buffer = ObservationBuffer(["observation.state", "observation.images.front"], staleness_s=0.5)
    for k in range(30):  # 20 Hz for 1.5 s, one message of three rejected
        value = np.array([np.inf]) if k % 3 == 0 else np.zeros(1)
        buffer.update("observation.state", value, stamp=10 + k / 20, received=10 + k / 20)
    state, front = buffer.statistics(now=11.5).values()
    assert (state.received, state.dropped, state.rate) == (20, 10, 19.0)  # arrivals in (10.5, 11.5]
    assert state.age == pytest.approx(0.05)
    assert (front.received, front.dropped, front.rate, front.age) == (0, 0, 0.0, -1.0)  # none yet
    buffer.restart_statistics()
    assert buffer.statistics(now=11.5)["observation.state"].received == 0


def test_image_size_rule():
    assert not must_resize("observation.images.front", (96, 128), (96, 128))
    assert must_resize("observation.images.front", (480, 640), (96, 128))  # 4:3 both: resized
    assert must_resize("observation.images.front", (240, 426), (720, 1280))  # 16:9, rounded
    with pytest.raises(ImageSizeError) as refused:
        must_resize("observation.images.front", (480, 480), (96, 128))
    assert "camera 'observation.images.front' gives 480×480 images" in str(refused.value)
    assert "trained on 128×96" in str(refused.value)
