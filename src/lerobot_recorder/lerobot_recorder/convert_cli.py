"""`lerobot-ros-convert` (`ros2 run lerobot_recorder convert`): episode bags → LeRobot dataset, no ROS."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from lerobot_dataset import DatasetError, VideoEncoderConfig
from lerobot_dataset.mapping import MappingError, load_mapping
from lerobot_recorder.convert import REPORTS_DIR, convert_bags
from lerobot_recorder.sync import DEFAULT_MAX_FILL


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lerobot-ros-convert",
        description=(
            "Convert rosbag2 episodes (MCAP or sqlite3, from Humble, Jazzy or Kilted) into a LeRobot v3.0 "
            "dataset. Streams are aligned on the dataset's frame grid from header stamps; late starts are "
            "trimmed; time is never compressed: a stream missing for up to --max-fill frames is filled from "
            "its nearest earlier sample, a longer gap splits the bag into two episodes; fills, splits, gaps "
            "and cameras slower than the fps are reported per bag (meta/lerobot_ros/sync/). A bag that "
            "was never closed (recorder killed: no metadata.yaml, MCAP without footer) is salvaged up to its "
            "last complete message; bags that cannot be read are skipped and reported, the others "
            "converted; a rerun resumes after the last converted bag. Exit status: 0 when every bag was "
            "converted (salvaged ones included, each reported), 1 when some were skipped (each reported, "
            "the others converted), 2 when the run could not start (arguments, mapping, bag paths)."
        ),
    )
    parser.add_argument("bags", nargs="+", metavar="BAG", help="episode bag folders, or folders holding them")
    parser.add_argument("-o", "--output", required=True, help="dataset folder (created, or appended to)")
    parser.add_argument(
        "--mapping", help="mapping name (config/mappings/) or YAML path; default: the one each bag stores"
    )
    parser.add_argument("--task", help="task text of every episode; default: each bag's, then the mapping's")
    parser.add_argument(
        "--codec",
        choices=["av1", "h264"],
        default="av1",
        help="video codec: av1 (lerobot's default, smallest) or h264 (plays in every browser)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        # Each worker's AV1 encoders already keep several cores busy: 2 workers on 2 cores measured 0.78x.
        default=max(1, (os.cpu_count() or 1) // 4),
        help="bags converted at once, one process each (default: a quarter of the CPUs, at most one per "
        "bag); 1 converts in this process",
    )
    parser.add_argument(
        "--max-fill",
        type=int,
        default=DEFAULT_MAX_FILL,
        help="frames in a row a camera (or action) stream may miss and be filled from its nearest sample, "
        f"each reported; a longer gap splits the bag into two episodes (default {DEFAULT_MAX_FILL}; 0: "
        "split at every missing frame)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--ros-args" in argv:  # `ros2 run` may append ROS arguments; this tool has no node
        argv = argv[: argv.index("--ros-args")]
    args = parser().parse_args(argv)
    if args.workers < 1 or args.max_fill < 0:
        print("lerobot-ros-convert: --workers must be at least 1, --max-fill at least 0", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        mapping = load_mapping(args.mapping) if args.mapping else None
        video = VideoEncoderConfig.h264() if args.codec == "h264" else VideoEncoderConfig()
        result = convert_bags(
            args.bags, args.output, mapping=mapping, task=args.task, video=video, workers=args.workers,
            max_fill=args.max_fill,
        )  # fmt: skip
    except (MappingError, DatasetError, FileNotFoundError) as error:
        print(f"lerobot-ros-convert: {error}", file=sys.stderr)
        return 2
    frames = sum(r.frames for r in result.reports)
    episodes = sum(len(r.episodes) for r in result.reports)
    bags = len(result.reports)
    print(f"converted {episodes} episode(s) from {bags} bag(s), {frames} frames, into {result.root}")
    if result.already:
        print(f"{len(result.already)} bag(s) were converted by an earlier run")
    if result.reports:
        print(f"sync reports: {result.root / REPORTS_DIR}")
    for bag, note in result.salvaged:
        print(f"salvaged {bag}: {note}", file=sys.stderr)
    for bag, reason in result.skipped:
        print(f"skipped {bag}: {reason}", file=sys.stderr)
    return 1 if result.skipped else 0
