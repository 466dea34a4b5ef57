"""The check every driver applies to a position command before anything moves (no ROS imports here)."""

from __future__ import annotations

import math
from collections.abc import Mapping


class RejectedCommandError(ValueError):
    """A position command refused as a whole."""


def check_finite(command: Mapping[str, float]) -> None:
    """Refuse a command that holds a NaN or infinite setpoint. The whole command is refused: moving only the
    joints with finite values would make a pose nobody commanded (and no policy was trained on)."""
    bad = [f"{name}={value}" for name, value in command.items() if not math.isfinite(value)]
    if bad:
        raise RejectedCommandError(
            f"command refused, no joint moved: non-finite setpoint {', '.join(bad)}; "
            "the sender (policy, teleoperation, script) must give every joint it names a finite position"
        )
