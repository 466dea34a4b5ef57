"""Entry point of `lerobot_recorder record` (reserved now so the command exists; issue #4 builds it)."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lerobot_recorder record",
        description=(
            "Record episodes of a recording profile's topics into rosbag2, with episode-control "
            "services and a keyboard mode. Not available yet: issue #4 builds it."
        ),
    )
    parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args
    parser.exit(1, "lerobot_recorder record: not implemented yet (issue #4).\n")
