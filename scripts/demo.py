"""The whole mission on the simulated arm (`make demo`; `make demo FULL=1` for a better policy;
`make demo VISION=1` for a policy that sees through the cameras instead of being told where the cubes are).

1. Record: the simulated SO-101 arm and the episode recorder (the bringup graph `robot:=sim record:=true`)
   and the scripted expert run as ROS 2 nodes in this process over real DDS; the expert demonstrates
   pick-and-place through the arm's command topic like a teleoperator, and keeps (success) or discards
   (failure) each episode at the recorder.
2. Convert: the episode bags become a LeRobot v3.0 dataset (Parquet + MP4), which is validated.
3. Train: ACT on this CPU with config/training/act_sim_quick.yaml (act_sim_full.yaml, act_sim_vision.yaml);
   the first two give it the joint states and the cube and target positions the sim reports (what a tracker
   would), the vision one the two cameras and the joint states.
4. Evaluate: the sim and the policy node run from the bringup graph (config/bringup/sim.yaml, as
   `lerobot-ros-bringup robot:=sim policy:=...` starts it), on cube layouts the demonstrations never showed;
   an evaluator resets the sim and starts the policy for each episode and counts successes; it reports the
   success rate with its 95 % Wilson interval (20 episodes pin a rate down to about ±20 points, no better).
   The sim's cameras render at least 240 pixels high here (the recording's aspect ratio), for the video.
Writes to the output folder: bags/, dataset/, train/ (checkpoints, logs), training_curve.png, rollout.mp4
(first evaluation episode in real time: front and wrist cameras side by side, captioned with the episode time
and the policy's latest action chunk), eval.json and summary.txt.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from lerobot_bringup.graph import load_graph
from lerobot_bringup.rollout import success_text
from lerobot_bringup.ros.run import create_nodes, start_nodes, stop_nodes
from lerobot_bringup.ros.sim_eval import SimEvaluator
from lerobot_common.config_files import find_config
from lerobot_dataset import DatasetReader
from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_drivers.ros.expert_node import ExpertNode
from lerobot_recorder.convert import REPORTS_DIR, convert_bags
from lerobot_training.train import train
from lerobot_training.train_config import TrainConfig
from lerobot_training.train_log import CURVE_NAME

EVAL_SEED_OFFSET = 1000  # evaluation layouts come from another seed than the demonstrations'
EVAL_MIN_HEIGHT = 240  # the evaluation's camera images, for a watchable video
PRESETS = {
    # episodes recorded, training config, evaluation episodes
    "quick": (100, "training/act_sim_quick.yaml", 20),
    "full": (200, "training/act_sim_full.yaml", 50),
    "vision": (200, "training/act_sim_vision.yaml", 20),  # the cameras and joint states only
}


class DemoError(RuntimeError):
    """A stage of the demo failed; the text says which and why."""


def run_graph(arguments: dict[str, str], overrides: dict[str, str], make_driver, timeout: float):
    """Run the bringup graph for ``arguments`` (as `lerobot-ros-bringup` would) plus the node that
    ``make_driver()`` returns (the expert, the evaluator), until that node is ``finished``; returns it."""
    specs = load_graph(arguments, overrides)
    rclpy.init()
    executor = SingleThreadedExecutor()  # one thread: the recorder and the policy need each topic in order
    nodes, driver = [], None
    try:
        nodes = create_nodes(specs)
        driver = make_driver()
        executor.add_node(driver)
        start_nodes(specs, nodes, executor)
        deadline = time.monotonic() + timeout
        while not driver.finished:
            if time.monotonic() > deadline:
                raise DemoError(f"{driver.get_name()} did not finish within {timeout:.0f} s")
            executor.spin_once(timeout_sec=0.1)
    finally:
        stop_nodes(specs, nodes)
        if driver is not None:
            driver.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return driver


def sim_overrides(width: int, height: int, seed: int) -> dict[str, str]:
    return {"sim.image_width": str(width), "sim.image_height": str(height), "sim.seed": str(seed)}


def eval_size(width: int, height: int) -> tuple[int, int]:
    """The evaluation's camera size: the recording's, scaled up to EVAL_MIN_HEIGHT pixels high if smaller.
    Same aspect ratio, so a policy trained on camera images gets them resized by the policy node's rule."""
    scale = max(1.0, EVAL_MIN_HEIGHT / height)
    return round(width * scale), round(height * scale)


def record(output: Path, episodes: int, width: int, height: int, seed: int, speed: float) -> Path:
    """Record ``episodes`` expert demonstrations into ``output/bags`` on simulated time (the sim's /clock)
    running ``speed`` times faster than the wall clock; returns that folder."""
    bags = output / "bags"
    started = time.monotonic()
    expert = run_graph(
        {"robot": "sim", "record": "true"},
        {
            **sim_overrides(width, height, seed),
            "sim.publish_clock": "true",
            "sim.real_time_factor": str(speed),
            "recorder.use_sim_time": "true",
            "recorder.output_dir": str(bags),
        },
        lambda: ExpertNode(
            parameter_overrides=[
                Parameter("episodes", value=episodes),
                Parameter("recorder", value="/recorder"),
                Parameter("use_sim_time", value=True),
            ]
        ),
        timeout=60.0 * episodes / speed,
    )
    print(
        f"recorded {sum(expert.results)} successful demonstration(s) of {episodes} in "
        f"{time.monotonic() - started:.0f} s (simulated time, up to {speed:g}× real time; failures "
        f"discarded) → {bags}"
    )
    return bags


def convert(bags: Path, dataset: Path) -> None:
    result = convert_bags([bags], dataset)
    for bag, reason in result.skipped:
        print(f"skipped {bag}: {reason}", file=sys.stderr)
    problems = validate_dataset(dataset)
    for problem in problems:
        print(problem, file=sys.stderr)
    if has_errors(problems) or not result.reports:
        raise DemoError("the dataset is not valid (see above)")
    reader = DatasetReader(dataset)
    print(
        f"dataset {dataset}: {reader.num_episodes} episodes, {reader.num_frames} frames at {reader.fps} fps "
        f"({reader.num_frames / reader.fps / 60:.1f} min of demonstrations), "
        f"cameras {', '.join(reader.camera_keys)}; valid LeRobot v3.0 "
        f"(sync reports in {dataset / REPORTS_DIR})"
    )
    reader.close()


def train_policy(dataset: Path, output: Path, config_file: Path, steps: int | None) -> Path:
    """Train with ``config_file`` (a lerobot-ros-train config); returns the pretrained_model folder."""
    options = yaml.safe_load(config_file.read_text())
    options.update(dataset={"root": str(dataset)}, output_dir=str(output / "train"))
    if steps is not None:
        options["steps"] = options["save_freq"] = steps
    print(f"training with {config_file} ({options['steps']} steps)")
    result = train(TrainConfig.from_dict(options))
    shutil.copy(result.output_dir / CURVE_NAME, output / CURVE_NAME)
    return result.checkpoint / "pretrained_model"


def evaluate(
    checkpoint: Path, output: Path, episodes: int, width: int, height: int, seed: int, timeout: float
) -> dict:
    """Run the policy on the sim for ``episodes`` episodes, its cameras at :func:`eval_size` of the
    recording's ``width`` × ``height``; returns eval.json's content."""
    run_graph(
        {"robot": "sim", "policy": str(checkpoint)},
        sim_overrides(*eval_size(width, height), seed + EVAL_SEED_OFFSET),
        lambda: SimEvaluator(
            parameter_overrides=[
                Parameter("episodes", value=episodes),
                Parameter("episode_timeout", value=timeout),
                Parameter("video_path", value=str(output / "rollout.mp4")),
                Parameter("results_path", value=str(output / "eval.json")),
            ]
        ),
        timeout=(timeout + 30) * episodes + 120,
    )
    return json.loads((output / "eval.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument("--full", action="store_true", help="more demonstrations and training (FULL=1)")
    presets.add_argument(
        "--vision", action="store_true",
        help="a policy that sees the cameras and joint states, not the cube positions (VISION=1; ~75 min)",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=Path("output/demo"), help="output folder (replaced)")
    parser.add_argument("--episodes", type=int, help="expert demonstrations to record (preset's by default)")
    parser.add_argument("--steps", type=int, help="training steps (the training config's by default)")
    parser.add_argument("--eval-episodes", type=int, help="evaluation episodes (preset's by default)")
    parser.add_argument("--episode-timeout", type=float, default=20.0, help="seconds per evaluation episode")
    parser.add_argument("--width", type=int, default=128, help="camera image width of the recording")
    parser.add_argument("--height", type=int, default=96, help="camera image height of the recording")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cube layouts")
    parser.add_argument(
        "--record-speed", type=float, default=3.0,
        help="simulated seconds per wall second while recording (the demonstrations are stamped with "
        "simulated time, so the speed changes nothing in them; 1 records in real time)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.record_speed <= 0:
        parser.error(f"--record-speed must be positive (3 records 3× faster), got {args.record_speed:g}")
    preset = "full" if args.full else "vision" if args.vision else "quick"
    preset_episodes, config_name, preset_eval = PRESETS[preset]
    output = args.output
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    started = time.monotonic()
    try:
        bags = record(
            output, args.episodes or preset_episodes, args.width, args.height, args.seed, args.record_speed
        )
        convert(bags, output / "dataset")
        checkpoint = train_policy(output / "dataset", output, find_config(config_name), args.steps)
        results = evaluate(
            checkpoint, output, args.eval_episodes or preset_eval, args.width, args.height, args.seed,
            args.episode_timeout,
        )  # fmt: skip
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    summary = (
        f"{success_text(results['successes'], results['episodes'])} over evaluation episodes on unseen "
        f"layouts; whole demo {(time.monotonic() - started) / 60:.1f} min\n"
        f"policy: {checkpoint}\ntraining curve: {output / CURVE_NAME}\n"
        f"rollout video: {output / 'rollout.mp4'}\n"
        f"run it yourself: lerobot-ros-bringup robot:=sim policy:={checkpoint}\n"
    )
    (output / "summary.txt").write_text(summary)
    print(summary, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
