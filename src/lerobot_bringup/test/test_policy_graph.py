"""The function API the demo uses, end to end in one process: the sim graph with a small random ACT policy is
built (create_nodes), started (start_nodes: configure, sim start, activate once the state arrives), drives the
sim through /arm/commands and draws chunk markers, then stops cleanly (stop_nodes)."""

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from visualization_msgs.msg import MarkerArray

from lerobot_bringup.graph import load_graph
from lerobot_bringup.ros.run import create_nodes, python_specs, start_nodes, stop_nodes
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


def test_sim_and_policy_run_in_one_executor(ros_context, spin_until, checkpoint):
    specs = load_graph(
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
