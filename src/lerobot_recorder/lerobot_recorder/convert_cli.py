"""Entry point of `lerobot-ros-convert` (reserved now so the command exists; issue #4 builds it)."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lerobot-ros-convert",
        description=(
            "Convert rosbag2 episodes into a LeRobot v3.0 dataset using a topic-to-feature mapping. Not"
            " available yet: issue #4 builds it."
        ),
    )
    parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args
    parser.exit(1, "lerobot-ros-convert: not implemented yet (issue #4).\n")
