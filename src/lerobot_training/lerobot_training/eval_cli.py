"""``lerobot-ros-eval``: offline action error of a checkpoint on held-out episodes of a dataset.

    lerobot-ros-eval --checkpoint outputs/act/checkpoints/last --dataset.root data/pick --holdout 0.2

Prints a per-episode table, writes ``eval_metrics.json`` and a PNG of predicted vs recorded actions to
``--output_dir`` (default: ``eval/`` inside the checkpoint's step directory). Exit status 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lerobot_dataset import DatasetError, DatasetReader
from lerobot_training.checkpoint import CheckpointError, resolve_pretrained_dir
from lerobot_training.data import error_message
from lerobot_training.evaluate import EvaluationError, choose_episodes, evaluate
from lerobot_training.features import FeatureError
from lerobot_training.normalization import StatsError
from lerobot_training.policies.base import ConfigError
from lerobot_training.processor import ProcessorError
from lerobot_training.train_cli import user_args

PROG = "lerobot-ros-eval"


def episode_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").strip("[]").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"episodes are comma-separated integers like 8,9; got {text!r}"
        ) from None


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", required=True, help="pretrained_model directory or its step directory"
    )
    parser.add_argument("--dataset.root", dest="dataset_root", required=True, help="LeRobot dataset folder")
    held_out = parser.add_mutually_exclusive_group(required=True)
    held_out.add_argument("--episodes", type=episode_list, help="episode indices, e.g. 8,9")
    held_out.add_argument("--holdout", type=float, help="evaluate the last fraction of episodes, e.g. 0.2")
    parser.add_argument("--output_dir", type=Path, help="where to write eval_metrics.json and the plot")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--num_workers", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, ... (default: the checkpoint's, else the best here)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the diffusion sampler")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(user_args(sys.argv[1:] if argv is None else argv))
    try:
        root = Path(args.dataset_root).expanduser()
        if not (root / "meta" / "info.json").is_file():
            raise EvaluationError(f"{root} is not a LeRobot dataset (no meta/info.json)")
        with DatasetReader(root) as reader:
            episodes = choose_episodes(reader.num_episodes, args.episodes, args.holdout)
        output_dir = args.output_dir or resolve_pretrained_dir(args.checkpoint).parent / "eval"
        result = evaluate(
            args.checkpoint,
            root,
            episodes,
            output_dir,
            args.batch_size,
            args.device,
            args.num_workers,
            args.seed,
        )
    except (
        EvaluationError,
        CheckpointError,
        ConfigError,
        FeatureError,
        DatasetError,
        ProcessorError,
        StatsError,
    ) as err:
        print(f"{PROG}: error: {error_message(err)}", file=sys.stderr)
        return 2
    print(f"{result.checkpoint}: action error over {result.horizon} executed steps per frame (dataset units)")
    print(result.table())
    print(f"metrics: {result.metrics_path}\nplot: {result.plot_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
