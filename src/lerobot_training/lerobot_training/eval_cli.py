"""Entry point of `lerobot-ros-eval` (reserved now so the command exists; issue #5 builds it)."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lerobot-ros-eval",
        description=(
            "Evaluate a checkpoint offline: action error on held-out dataset episodes. Not available "
            "yet: issue #5 builds it."
        ),
    )
    parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args
    parser.exit(1, "lerobot-ros-eval: not implemented yet (issue #5).\n")
