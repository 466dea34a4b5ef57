"""The policy node's control loop under a real policy: period error and observation-to-action latency.

A fake robot process publishes joint states (100 Hz) and a 320×240 camera (30 Hz); the policy node runs ACT
with lerobot's default size (ResNet-18, dim 512, chunk 100; random weights: the speed is the same) at 30 Hz,
publishing Float64MultiArray commands. Measured where a controller would be (command arrival times at a
subscriber) and from the node's action chunks (observation stamp → chunk published). Baseline, in the same
process and under the same load: a bare 30 Hz rclpy timer publishing the same message, no policy.
Each inference mode in turn: ``local`` (a thread of the node's process), ``process`` (a process of its own
on a Unix socket) and ``remote`` (lerobot-ros-serve on localhost TCP, as a GPU box would serve it).
Goal: p99 period error ≤ 2 ms and ≤ 2× the bare timer's.
Usage: python benchmarks/policy_loop.py [--seconds 60] [--inference local process remote]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray

from lerobot_dataset.features import DEFAULT_FEATURES
from lerobot_msgs.msg import ActionChunk
from lerobot_policy_node.ros.policy_node import PolicyNode
from lerobot_training.checkpoint import save_pretrained
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors

FPS = 30
MODES = ("local", "process", "remote")
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
FAKE_ROBOT = Path(__file__).resolve().parents[1] / "test" / "fake_robot.py"


def act_checkpoint(folder: Path) -> Path:
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
    stats = {n: {"mean": [0.0] * 6, "std": [1.0] * 6} for n in ("observation.state", "action")}
    stats["observation.images.front"] = {"mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3}
    config = make_policy_config("act", pretrained_backbone_weights=None, device="cpu")
    policy = make_policy(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, stats)
    return save_pretrained(folder / "pretrained_model", policy, preprocessor, postprocessor)


def percentiles(values: list[float]) -> str:
    p50, p99 = np.percentile(np.asarray(values) * 1000, [50, 99])
    return f"p50 {p50:6.2f} ms, p99 {p99:6.2f} ms"


def bare_timer(seconds: float) -> list[float]:
    """Period errors of a plain 30 Hz rclpy timer publishing a command, no policy (the baseline)."""
    node = rclpy.create_node("bare_timer")
    publisher = node.create_publisher(Float64MultiArray, "/bench/bare", 10)
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(time.monotonic())
        publisher.publish(Float64MultiArray(data=[0.0] * 6))

    node.create_timer(1 / FPS, tick)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
    executor.shutdown()
    node.destroy_node()
    return list(np.abs(np.diff(ticks) - 1 / FPS))


def serve(checkpoint: Path) -> tuple[subprocess.Popen, str]:
    """lerobot-ros-serve on a free localhost port, as a GPU box would run it: its process and address."""
    server = subprocess.Popen(
        [sys.executable, "-m", "lerobot_policy_node.serve_cli", "--checkpoint", str(checkpoint),
         "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in server.stdout:
        if line.startswith("serving"):
            return server, line.split(" on ")[1].split()[0]
    raise SystemExit("lerobot-ros-serve did not start")


def run_policy(mode: str, checkpoint: Path, mapping: Path, seconds: float) -> list[float]:
    """The policy node with ``inference: mode`` for ``seconds``; prints its figures."""
    server, address = serve(checkpoint) if mode == "remote" else (None, "")
    node = PolicyNode(
        parameter_overrides=[
            Parameter("checkpoint", value=str(checkpoint)),
            Parameter("mapping", value=str(mapping)),
            Parameter("command_topic", value="/bench/commands"),
            Parameter("max_step", value=0.0),
            Parameter("inference", value=mode),
            Parameter("server", value=address),
        ]
    )
    chunks: list[ActionChunk] = []
    node.create_subscription(ActionChunk, "/policy/action_chunk", chunks.append, 100)
    ticks: list[float] = []  # command arrival times, as the controller sees them
    node.create_subscription(
        Float64MultiArray, "/bench/commands", lambda _: ticks.append(time.monotonic()), 100
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise SystemExit(f"the policy node did not configure: {node.holding_reason}")
        while not node.ready_to_activate:
            time.sleep(0.05)
        node.trigger_activate()
        time.sleep(seconds)
        node.trigger_deactivate()
        held = node.held_while_acting
    finally:
        executor.shutdown()
        node.destroy_node()
        if server is not None:
            server.terminate()
            server.wait()
    errors = list(np.abs(np.diff(ticks) - 1 / FPS))
    inference = [c.inference_time for c in chunks]
    latency = [
        (c.header.stamp.sec + c.header.stamp.nanosec / 1e9)
        - (c.observation_stamp.sec + c.observation_stamp.nanosec / 1e9)
        for c in chunks
    ]
    print(f"inference: {mode} — {len(chunks)} chunks")
    print(f"  inference per chunk:            {percentiles(inference)}")
    print(f"  observation → chunk published:  {percentiles(latency)}")
    print(f"  publish period error (policy):  {percentiles(errors)}   (goal: p99 ≤ 2 ms)")
    print(f"  ticks held after the first action: {held}")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--inference", nargs="+", choices=MODES, default=list(MODES),
        help="the policy node's inference modes to measure, one after the other",
    )  # fmt: skip
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lerobot-ros-policy-bench-"))
    checkpoint = act_checkpoint(folder)
    mapping = folder / "mapping.yaml"
    mapping.write_text(
        textwrap.dedent(
            f"""
            name: bench
            robot_type: so101
            fps: {FPS}
            features:
              observation.state: {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
              action: {{topic: /bench/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS}}}
              observation.images.front: {{topic: /front/image_raw, type: sensor_msgs/msg/Image}}
            """
        )
    )
    robot = subprocess.Popen([sys.executable, str(FAKE_ROBOT), "320", "240"])
    rclpy.init()
    try:
        time.sleep(5.0)  # the robot process up and publishing: the baseline runs under the same load
        baseline = bare_timer(min(args.seconds, 20.0))
        print(f"ACT (lerobot defaults, one 240×320 camera), {FPS} Hz, {args.seconds:.0f} s each")
        print(f"publish period error (bare):      {percentiles(baseline)}   (a 30 Hz rclpy timer alone)")
        for mode in args.inference:
            errors = run_policy(mode, checkpoint, mapping, args.seconds)
            ratio = np.percentile(errors, 99) / max(np.percentile(baseline, 99), 1e-9)
            print(f"  ratio p99 policy / bare: {ratio:.2f}×   (goal: ≤ 2×)")
    finally:
        robot.kill()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
