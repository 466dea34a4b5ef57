"""Entry point of `lerobot-ros-train` (reserved now so the command exists; issue #5 builds it)."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lerobot-ros-train",
        description=(
            "Train ACT, Diffusion Policy or pi0 on a LeRobot dataset and write lerobot-compatible "
            "checkpoints. Not available yet: issue #5 builds it."
        ),
    )
    parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args
    parser.exit(1, "lerobot-ros-train: not implemented yet (issue #5).\n")
