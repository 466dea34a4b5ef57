"""The main job on the simulated robot, as far as the suite goes today (`make demo`).

1. The simulated SO-101 arm, the scripted expert and the episode recorder run as ROS 2 nodes in this process,
   talking over real DDS: the expert demonstrates pick-and-place through the arm's command topic like a
   teleoperator, and starts, keeps (success) or discards (failure) each episode at the recorder.
2. The episode bags become a LeRobot v3.0 dataset, which is validated; per-episode sync reports are written.
Training a policy and running it on the sim follow as the training CLI and the bringup land.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from lerobot_dataset import DatasetReader
from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_drivers.ros.expert_node import ExpertNode
from lerobot_drivers.ros.sim_node import SimNode
from lerobot_recorder.convert import REPORTS_DIR, convert_bags
from lerobot_recorder.ros.record_node import RecordNode


def record(output: Path, episodes: int, width: int, height: int, seed: int) -> Path:
    """Record ``episodes`` expert demonstrations into ``output/bags``; returns that folder."""
    bags = output / "bags"
    rclpy.init()
    sim = SimNode(
        parameter_overrides=[
            Parameter("image_width", value=width),
            Parameter("image_height", value=height),
            Parameter("seed", value=seed),
        ]
    )
    expert = ExpertNode(
        parameter_overrides=[Parameter("episodes", value=episodes), Parameter("recorder", value="/recorder")]
    )
    recorder = RecordNode(
        parameter_overrides=[
            Parameter("profile", value="so101_sim"),
            Parameter("output_dir", value=str(bags)),
        ]
    )
    executor = SingleThreadedExecutor()  # one thread: the recorder must see each topic's messages in order
    for node in (sim, expert, recorder):
        executor.add_node(node)
    sim.start()
    started = time.monotonic()
    try:
        while rclpy.ok() and not expert.finished:
            executor.spin_once(timeout_sec=0.1)
    finally:
        sim.stop()
        executor.shutdown()
        for node in (sim, expert, recorder):
            node.destroy_node()
        rclpy.try_shutdown()
    print(
        f"recorded {sum(expert.results)} successful demonstration(s) of {episodes} "
        f"in {time.monotonic() - started:.0f} s (failures discarded) → {bags}"
    )
    return bags


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=Path("output/demo"), help="output folder (replaced)")
    parser.add_argument("--episodes", type=int, default=5, help="expert demonstrations to record")
    parser.add_argument("--width", type=int, default=320, help="camera image width")
    parser.add_argument("--height", type=int, default=240, help="camera image height")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cube layouts")
    args = parser.parse_args()
    shutil.rmtree(args.output, ignore_errors=True)
    bags = record(args.output, args.episodes, args.width, args.height, args.seed)
    dataset = args.output / "dataset"
    result = convert_bags([bags], dataset)
    for bag, reason in result.skipped:
        print(f"skipped {bag}: {reason}", file=sys.stderr)
    problems = validate_dataset(dataset)
    for problem in problems:
        print(problem, file=sys.stderr)
    if has_errors(problems) or not result.reports:
        print("demo failed: the dataset is not valid (see above)", file=sys.stderr)
        return 1
    reader = DatasetReader(dataset)
    print(
        f"dataset {dataset}: {reader.num_episodes} episodes, {reader.num_frames} frames at {reader.fps} fps, "
        f"cameras {', '.join(reader.camera_keys)}; valid LeRobot v3.0"
    )
    reader.close()
    print(f"sync reports (text + PNG per episode): {dataset / REPORTS_DIR}")
    print(f"inspect it: lerobot-ros-dataset info {dataset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
