"""Entry point of `lerobot_drivers sim` (reserved now so the command exists; issue #9 builds it)."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lerobot_drivers sim",
        description=(
            "Simulated SO-101-like arm with cameras (MuJoCo), publishing and accepting the same topics "
            "as the real arm. Not available yet: issue #9 builds it."
        ),
    )
    parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args
    parser.exit(1, "lerobot_drivers sim: not implemented yet (issue #9).\n")
