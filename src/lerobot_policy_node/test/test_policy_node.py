"""The policy node over real DDS: fake robot process → node with a small ACT checkpoint → a subscriber in the
place of each controller type."""

import json
import shutil
import textwrap
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the workspace venv (make setup)")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from lerobot_dataset.features import DEFAULT_FEATURES  # noqa: E402
from lerobot_msgs.msg import ActionChunk  # noqa: E402
from lerobot_policy_node.ros.policy_node import PolicyNode  # noqa: E402
from lerobot_training.checkpoint import save_pretrained  # noqa: E402
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors  # noqa: E402

FPS = 50  # a 20 ms period: shorter than this ACT's inference on a CPU
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
MAPPING = textwrap.dedent(
    f"""
    name: fake_robot
    robot_type: so101
    fps: {FPS}
    task: Pick up the cube.
    features:
      observation.state: {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
      action: {{topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS}}}
      observation.images.{{camera}}: {{topic: /front/image_raw, type: sensor_msgs/msg/Image}}
    """
)
OUTPUT_TYPES = {"forward": Float64MultiArray, "trajectory": JointTrajectory, "joint_state": JointState}


def test_every_registered_output_is_driven_end_to_end_here():
    """A new controller output gets its case in OUTPUT_TYPES (and in the assertions below) with it."""
    from lerobot_policy_node.outputs import OUTPUTS

    assert set(OUTPUT_TYPES) == set(OUTPUTS)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random small ACT (ResNet-18 backbone) for one 96×128 camera, saved like a trained one."""
    features = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": JOINTS},
        "observation.images.front": {
            "dtype": "video",
            "shape": [240, 320, 3],
            "names": ["height", "width", "channels"],
        },
        "action": {"dtype": "float32", "shape": [6], "names": JOINTS},
        **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
    }
    stats = {
        name: {"mean": [0.0] * 6, "std": [1.0] * 6, "min": [-1.0] * 6, "max": [1.0] * 6}
        for name in ("observation.state", "action")
    }
    stats["observation.images.front"] = {
        "mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3, "min": [[[0.0]]] * 3, "max": [[[1.0]]] * 3
    }  # fmt: skip
    config = make_policy_config(
        "act", pretrained_backbone_weights=None, device="cpu", dim_model=64, n_heads=4, dim_feedforward=128,
        n_encoder_layers=2, n_vae_encoder_layers=1, latent_dim=8, chunk_size=100, n_action_steps=100,
    )  # fmt: skip
    policy = make_policy(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, stats)
    return save_pretrained(
        tmp_path_factory.mktemp("act") / "pretrained_model", policy, preprocessor, postprocessor
    )


@pytest.fixture(scope="module")
def ensembling_checkpoint(checkpoint, tmp_path_factory):
    """The same ACT with lerobot's temporal ensembling in its config.json (no weight depends on it)."""
    directory = tmp_path_factory.mktemp("act_ensembling") / "pretrained_model"
    shutil.copytree(checkpoint, directory)
    config = json.loads((directory / "config.json").read_text())
    config.update(n_action_steps=1, temporal_ensemble_coeff=0.05)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def start_node(ros_context, tmp_path, checkpoint, output: str, camera: str = "front"):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING.replace("{camera}", camera))
    node = PolicyNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("checkpoint", value=str(checkpoint)),
            Parameter("mapping", value=str(mapping)),
            Parameter("output", value=output),
            Parameter("command_topic", value="/test/commands"),
            Parameter("max_step", value=0.0),  # no step bound: the random policy may jump
        ],
    )
    executor = SingleThreadedExecutor(context=ros_context)  # as the node's main()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    return node, executor


@pytest.mark.parametrize("output", sorted(OUTPUT_TYPES))
def test_commands_flow_at_the_control_rate_across_chunks(
    ros_context, tmp_path, checkpoint, start_fake_robot, output
):
    start_fake_robot(128, 96)
    node, executor = start_node(ros_context, tmp_path, checkpoint, output)
    listener = rclpy.create_node("controller_stand_in", context=ros_context)
    commands, chunks = [], []
    listener.create_subscription(
        OUTPUT_TYPES[output], "/test/commands", lambda m: commands.append((time.monotonic(), m)), 100
    )
    listener.create_subscription(ActionChunk, "/policy/action_chunk", chunks.append, 100)
    executor.add_node(listener)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        deadline = time.monotonic() + 20
        while not node.ready_to_activate and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        deadline = time.monotonic() + 30
        while len(chunks) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(chunks) >= 6, f"only {len(chunks)} chunks: {node.holding_reason}"
        # ~/stop: silent, so that a reset or a teleoperator commanding the arm is not fought by hold commands
        assert node._on_stop(Trigger.Request(), Trigger.Response()).success
        time.sleep(0.3)  # a command already in flight arrives
        after_stop = len(commands)
        time.sleep(0.5)
        assert len(commands) == after_stop, "a stopped policy node kept commanding"
        node.trigger_deactivate()
    finally:
        executor.shutdown()
        node.runner.close()
        node.destroy_node()
        listener.destroy_node()

    period = 1.0 / FPS
    inference = [c.inference_time for c in chunks]
    assert np.median(inference) > period, f"inference {np.median(inference):.3f} s is not slower than a tick"
    assert node.held_while_acting == 0, (
        f"the robot held {node.held_while_acting} ticks between chunks (inference {max(inference):.3f} s max)"
    )
    for chunk in chunks:
        assert chunk.policy_type == "act" and list(chunk.joint_names) == JOINTS
        assert chunk.horizon == 100 and len(chunk.positions) == 100 * 6 and np.isfinite(chunk.positions).all()
        assert chunk.control_period == pytest.approx(period)
    if output == "trajectory":  # one trajectory per chunk, points at the control period, with velocities
        assert len(commands) >= len(chunks) - 1
        for _, trajectory in commands:
            assert list(trajectory.joint_names) == JOINTS
            times = [p.time_from_start.sec + p.time_from_start.nanosec / 1e9 for p in trajectory.points]
            assert times == pytest.approx([period * (k + 1) for k in range(len(times))], abs=1e-6)
            assert all(len(p.velocities) == 6 and np.isfinite(p.positions).all() for p in trajectory.points)
        return
    # one command per tick (timing jitter is the benchmark's business: benchmarks/policy_loop.py)
    stamps = [t for t, _ in commands]
    assert len(stamps) > 0.5 * FPS * (stamps[-1] - stamps[0]), (
        f"{len(stamps)} commands in {stamps[-1] - stamps[0]:.1f} s"
    )
    values = [m.data if output == "forward" else m.position for _, m in commands]
    assert all(len(v) == 6 and np.isfinite(v).all() for v in values)
    if output == "joint_state":
        assert all(list(m.name) == JOINTS for _, m in commands)


def test_renamed_camera_refuses_to_configure(ros_context, tmp_path, checkpoint):
    node, executor = start_node(ros_context, tmp_path, checkpoint, "forward", camera="top")
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert "needs 'observation.images.front'" in node.holding_reason
        assert "observation.images.top" in node.holding_reason
    finally:
        executor.shutdown()
        node.destroy_node()


def test_activation_waits_for_the_robot_state(ros_context, tmp_path, checkpoint, start_fake_robot):
    """Activation is refused without a state to hold (a safety check); ready_to_activate tells beforehand."""
    node, executor = start_node(ros_context, tmp_path, checkpoint, "forward")
    try:
        assert not node.ready_to_activate  # unconfigured
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        assert not node.ready_to_activate
        assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
        assert "no observation.state received yet" in node.holding_reason
        start_fake_robot(128, 96)
        deadline = time.monotonic() + 20
        while not node.ready_to_activate and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.ready_to_activate
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        node.trigger_deactivate()
    finally:
        executor.shutdown()
        node.runner.close()
        node.destroy_node()


def test_reconfiguring_replaces_the_command_publisher(ros_context, tmp_path, checkpoint):
    """cleanup destroys what configure made: configure → cleanup → configure leaves one command publisher."""
    node, executor = start_node(ros_context, tmp_path, checkpoint, "forward")
    try:
        for _ in range(2):
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
            publishers = node.get_publishers_info_by_topic("/test/commands")
            assert [p.topic_type for p in publishers] == ["std_msgs/msg/Float64MultiArray"]
            assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.get_publishers_info_by_topic("/test/commands") == []
    finally:
        executor.shutdown()
        node.destroy_node()


def test_auto_ensembles_a_checkpoint_trained_with_it_using_its_coefficient(
    ros_context, tmp_path, ensembling_checkpoint
):
    node, executor = start_node(ros_context, tmp_path, ensembling_checkpoint, "forward")
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        assert node.strategy == "ensemble" and node.policy.whole_chunks
        assert node.runner.merger.coeff == 0.05
    finally:
        executor.shutdown()
        node.destroy_node()
