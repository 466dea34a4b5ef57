"""The function API the demo uses, end to end in one process: the sim graph with a small random ACT policy is
built (create_nodes), started (start_nodes: configure, sim start, activate once the state arrives), drives the
sim through /arm/commands and draws chunk markers, then stops cleanly (stop_nodes); and the demo's evaluator
runs episodes of it over DDS, writing the rollout video and the success rate with its interval."""

import json

import av
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray
from visualization_msgs.msg import MarkerArray

from lerobot_bringup.graph import load_graph
from lerobot_bringup.ros.run import create_nodes, python_specs, start_nodes, stop_nodes
from lerobot_bringup.ros.sim_eval import SimEvaluator
from lerobot_dataset.features import DEFAULT_FEATURES
from lerobot_training.checkpoint import save_pretrained
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors

# lerobot_training (torch) is imported above, at collection, before the sim opens its renderer: torch's triton
# and Mesa's llvmpipe both bundle LLVM, and importing triton after llvmpipe crashes.
pytestmark = pytest.mark.ros

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
WIDTH, HEIGHT = 64, 48


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random small ACT for the sim's two cameras (so101_sim mapping), saved like a trained one."""
    image = {"dtype": "video", "shape": [HEIGHT, WIDTH, 3], "names": ["height", "width", "channels"]}
    features = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": JOINTS},
        "observation.images.front": image,
        "observation.images.wrist": image,
        "action": {"dtype": "float32", "shape": [6], "names": JOINTS},
        **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
    }
    stats = {
        name: {"mean": [0.0] * 6, "std": [1.0] * 6, "min": [-1.0] * 6, "max": [1.0] * 6}
        for name in ("observation.state", "action")
    }
    for camera in ("front", "wrist"):
        stats[f"observation.images.{camera}"] = {
            "mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3, "min": [[[0.0]]] * 3, "max": [[[1.0]]] * 3
        }  # fmt: skip
    config = make_policy_config(
        "act", pretrained_backbone_weights=None, device="cpu", dim_model=32, n_heads=2, dim_feedforward=64,
        n_encoder_layers=1, n_decoder_layers=1, n_vae_encoder_layers=1, latent_dim=4, chunk_size=20,
        n_action_steps=20,
    )  # fmt: skip
    policy = make_policy(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, stats)
    return save_pretrained(
        tmp_path_factory.mktemp("act") / "pretrained_model", policy, preprocessor, postprocessor
    )


def sim_graph(checkpoint):
    return load_graph(
        {"robot": "sim", "policy": str(checkpoint)},
        {
            "sim.image_width": str(WIDTH),
            "sim.image_height": str(HEIGHT),
            "sim.camera_rate": "15",
            "policy.mapping": "so101_sim",  # this checkpoint carries no mapping of its own
            "policy.device": "cpu",
            "policy.max_step": "0.05",
        },
    )


def test_sim_and_policy_run_in_one_executor(ros_context, spin_until, checkpoint):
    specs = sim_graph(checkpoint)
    assert [s.name for s in python_specs(specs)] == ["sim", "policy", "chunk_markers"]
    executor = SingleThreadedExecutor(context=ros_context)
    listener = Node("policy_graph_listener", context=ros_context)
    commands: list[Float64MultiArray] = []
    markers: list[MarkerArray] = []
    listener.create_subscription(Float64MultiArray, "/arm/commands", commands.append, 10)
    listener.create_subscription(MarkerArray, "/action_chunk_markers", markers.append, 10)
    executor.add_node(listener)
    nodes = create_nodes(specs, context=ros_context)
    try:
        start_nodes(specs, nodes, executor, timeout=60.0)
        assert spin_until(executor, lambda: len(commands) > 10 and markers, timeout=60.0)
        assert len(commands[-1].data) == len(JOINTS)
        assert markers[-1].markers[0].header.frame_id == "base_link"
    finally:
        stop_nodes(specs, nodes)
        executor.shutdown()
        listener.destroy_node()


def test_evaluator_writes_both_cameras_upscaled_and_the_success_interval(
    ros_context, spin_until, checkpoint, tmp_path
):
    specs = sim_graph(checkpoint)
    executor = SingleThreadedExecutor(context=ros_context)
    nodes = create_nodes(specs, context=ros_context)
    evaluator = SimEvaluator(
        context=ros_context,
        parameter_overrides=[
            Parameter("episodes", value=2),
            Parameter("episode_timeout", value=2.0),
            Parameter("video_path", value=str(tmp_path / "rollout.mp4")),
            Parameter("results_path", value=str(tmp_path / "eval.json")),
        ],
    )
    executor.add_node(evaluator)
    try:
        start_nodes(specs, nodes, executor, timeout=60.0)
        assert spin_until(executor, lambda: evaluator.finished, timeout=120.0)
    finally:
        stop_nodes(specs, nodes)
        executor.shutdown()
        evaluator.destroy_node()

    results = json.loads((tmp_path / "eval.json").read_text())
    assert results["episodes"] == 2 and len(results["outcomes"]) == 2
    successes = results["successes"]
    assert successes == sum(o["success"] for o in results["outcomes"])
    low, high = results["wilson_95"]
    assert 0.0 <= low <= successes / 2 <= high <= 1.0 and high - low > 0.5  # two episodes say little

    with av.open(str(tmp_path / "rollout.mp4")) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    panel_width = 240 * WIDTH // HEIGHT  # the 64×48 images upscaled to the default video_height
    assert frames and frames[-1].shape == (240, 2 * panel_width, 3)
    # the wrist camera's panel, right of the front camera's, shows its images, not the black of a missing one
    assert frames[-1][:, panel_width:].mean() > 10
