"""``lerobot-ros-dataset``: check and summarise LeRobot v3.0 datasets from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lerobot_dataset.commit import WriterLock, needs_recovery, recover
from lerobot_dataset.errors import DatasetError, DatasetFormatError
from lerobot_dataset.features import DEFAULT_FEATURES, camera_shape, is_depth
from lerobot_dataset.metadata import read_episodes, read_info, read_tasks
from lerobot_dataset.paths import JOURNAL_PATH
from lerobot_dataset.validate import has_errors, validate_dataset

DESCRIPTION = """\
Check and summarise LeRobot v3.0 datasets (meta/info.json, Parquet data, MP4 videos), the format the
lerobot library (0.4.x, 0.6.x) trains on.

commands:
  validate ROOT   check every file against the format, including the decoded timestamp of every video
                  frame; prints each problem; exit status 0 when valid, 1 when there are errors
  info ROOT       features, episodes, frames, tasks and fps at a glance
  recover ROOT    roll back a save that a crash interrupted (opening the dataset with this package does
                  the same automatically)
"""


def _cmd_validate(args: argparse.Namespace) -> int:
    problems = validate_dataset(
        args.root, decode_videos=not args.no_decode, progress=not args.quiet, tolerance_s=args.tolerance_s
    )
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    for problem in errors + warnings:
        print(problem)
    if has_errors(problems):
        print(
            f"\n{args.root}: NOT a valid LeRobot v3.0 dataset "
            f"({len(errors)} error(s), {len(warnings)} warning(s))"
        )
        return 1
    summary = "valid LeRobot v3.0 dataset"
    if warnings:
        summary += f" with {len(warnings)} warning(s)"
    if args.no_decode:
        summary += " (video frames not decoded: --no-decode)"
    print(f"{args.root}: {summary}")
    return 0


def _summary(root: Path) -> dict[str, Any]:
    info = read_info(root)
    features = info["features"]
    video = [k for k, ft in features.items() if ft["dtype"] == "video"]
    episodes = read_episodes(root, video)
    lengths = [ep.length for ep in episodes]
    return {
        "root": str(root),
        "codebase_version": info["codebase_version"],
        "robot_type": info["robot_type"],
        "fps": info["fps"],
        "episodes": info["total_episodes"],
        "frames": info["total_frames"],
        "duration_s": info["total_frames"] / info["fps"],
        "episode_length": {"min": min(lengths), "max": max(lengths), "mean": sum(lengths) / len(lengths)}
        if lengths
        else None,
        "tasks": read_tasks(root),
        "features": features,
        "interrupted_save": needs_recovery(root),
    }


def _describe(key: str, ft: dict[str, Any]) -> str:
    if ft["dtype"] in ("video", "image"):
        height, width, channels = camera_shape(ft)
        text = f"{ft['dtype']:<8} {width}x{height}x{channels}"
        if ft["dtype"] == "video":
            video = ft.get("info", {})
            text += f"  {video.get('video.codec', '?')} {video.get('video.pix_fmt', '?')}"
            if is_depth(ft):
                text += "  depth"
        return text
    text = f"{ft['dtype']:<8} {ft['shape']}"
    names = ft.get("names")
    if isinstance(names, list) and names:
        shown = ", ".join(map(str, names[:8])) + (", ..." if len(names) > 8 else "")
        text += f"  ({shown})"
    return text


def _cmd_info(args: argparse.Namespace) -> int:
    summary = _summary(args.root)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    lengths = summary["episode_length"]
    print(f"dataset   {summary['root']}  (LeRobot {summary['codebase_version']})")
    print(f"robot     {summary['robot_type']}")
    print(f"fps       {summary['fps']}")
    print(
        f"episodes  {summary['episodes']}"
        + (
            f"  (frames per episode: min {lengths['min']}, mean {lengths['mean']:.1f}, max {lengths['max']})"
            if lengths
            else ""
        )
    )
    print(f"frames    {summary['frames']}  ({summary['duration_s']:.1f} s)")
    print(f"tasks     {len(summary['tasks'])}")
    for i, task in enumerate(summary["tasks"][:20]):
        print(f"  [{i}] {task}")
    if len(summary["tasks"]) > 20:
        print(f"  ... {len(summary['tasks']) - 20} more")
    print("features")
    width = max(len(k) for k in summary["features"])
    for key, ft in summary["features"].items():
        if key not in DEFAULT_FEATURES:
            print(f"  {key:<{width}}  {_describe(key, ft)}")
    print(f"  (+ {', '.join(DEFAULT_FEATURES)})")
    if summary["interrupted_save"]:
        print(
            f"\nnote: {JOURNAL_PATH} shows an interrupted save; run `lerobot-ros-dataset recover {args.root}`"
        )
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    if not args.root.is_dir():  # the lock would create it
        raise DatasetFormatError(f"{args.root} is not a folder; pass the root folder of a dataset")
    lock = WriterLock(args.root)
    lock.acquire()
    try:
        undone = recover(args.root)
    finally:
        lock.release()
    print(f"{args.root}: " + ("rolled back the interrupted save" if undone else "nothing to recover"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lerobot-ros-dataset",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{validate,info,recover}")
    check = commands.add_parser(
        "validate",
        help="check a dataset against the LeRobot v3.0 format",
        description="Check a dataset against the LeRobot v3.0 format. Exit status 0 "
        "when valid (warnings allowed), 1 when there are errors.",
    )
    check.add_argument("root", type=Path, help="dataset folder (the one holding meta/, data/, videos/)")
    check.add_argument(
        "--no-decode",
        action="store_true",
        help="skip decoding video frames (faster; timestamps are then checked from metadata only)",
    )
    check.add_argument(
        "--tolerance-s",
        type=float,
        default=1e-4,
        help="largest allowed timestamp error in seconds, as lerobot's tolerance_s (default 1e-4)",
    )
    check.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    check.set_defaults(func=_cmd_validate)
    info = commands.add_parser(
        "info",
        help="summarise features, episodes, frames, tasks and fps",
        description="Summarise a dataset: features, episodes, frames, tasks and fps.",
    )
    info.add_argument("root", type=Path, help="dataset folder")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_cmd_info)
    rec = commands.add_parser(
        "recover",
        help="roll back a save interrupted by a crash",
        description="Roll back a save interrupted by a crash, leaving the dataset as it "
        "was before that episode.",
    )
    rec.add_argument("root", type=Path, help="dataset folder")
    rec.set_defaults(func=_cmd_recover)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
