"""Entry point of `lerobot_policy_node policy` (reserved now so the command exists; issue #7 builds it)."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lerobot_policy_node policy",
        description=(
            "Run a trained policy on live observations and stream action chunks to ros2_control "
            "controllers. Not available yet: issue #7 builds it."
        ),
    )
    parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args
    parser.exit(1, "lerobot_policy_node policy: not implemented yet (issue #7).\n")
