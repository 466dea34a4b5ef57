"""Joint units: encoder ticks ↔ radians (ROS) ↔ lerobot's normalized units (datasets, lerobot's own arms).

Radians are measured from the middle of the calibrated range, the pose lerobot's calibration centres at half
a turn; one turn is `resolution` ticks (the motor model's, lerobot_common.motors). The ticks are the servo's
present position, homing offset already applied, i.e. the domain of the calibration's range_min/range_max.
lerobot's units are exactly those of its MotorsBus:
- DEGREES:        (ticks − mid) · 360 / (resolution − 1)          (no clamp, drive mode ignored)
- RANGE_M100_100: clamp((ticks − min)/(max − min)) · 200 − 100    (negated when the drive mode applies)
- RANGE_0_100:    clamp((ticks − min)/(max − min)) · 100          (100 − x when the drive mode applies)
Ranged modes clamp to the calibrated range, as lerobot does: radians outside it do not come back.
Every method takes a number or a numpy array (one joint's values); NaN stays NaN in every direction
(np.clip keeps it), so a broken value is never turned into a valid position.
The inverse conversions return fractional ticks; lerobot truncates them with int(), the drivers round
(`round_ticks`), so the two may differ by one tick (0.09° at 4096 ticks a turn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

Values = float | np.ndarray  # one joint's value, or an array of them


class NormMode(str, Enum):
    DEGREES = "degrees"
    RANGE_M100_100 = "range_m100_100"
    RANGE_0_100 = "range_0_100"


@dataclass(frozen=True)
class JointUnits:
    range_min: int
    range_max: int
    norm_mode: NormMode
    resolution: int  # encoder ticks per turn: the motor model's (lerobot_common.motors)
    drive_mode: int = 0
    apply_drive_mode: bool = True  # lerobot applies drive_mode on Feetech buses, not on Dynamixel ones

    def __post_init__(self) -> None:
        if self.range_max <= self.range_min:
            raise ValueError(
                f"calibrated range [{self.range_min}, {self.range_max}] is empty: recalibrate this joint "
                "and move it through its whole range while recording"
            )

    @property
    def middle(self) -> float:
        return (self.range_min + self.range_max) / 2

    @property
    def _flipped(self) -> bool:
        return self.apply_drive_mode and bool(self.drive_mode)

    # ------------------------------------------------------------------------------------------ radians
    def ticks_to_radians(self, ticks: Values) -> Values:
        return (ticks - self.middle) * 2 * math.pi / self.resolution

    def radians_to_ticks(self, radians: Values) -> Values:
        return radians * self.resolution / (2 * math.pi) + self.middle

    @property
    def radian_limits(self) -> tuple[float, float]:
        return self.ticks_to_radians(self.range_min), self.ticks_to_radians(self.range_max)

    # ------------------------------------------------------------------------------------------ lerobot
    def ticks_to_lerobot(self, ticks: Values) -> Values:
        if self.norm_mode is NormMode.DEGREES:
            return (ticks - self.middle) * 360 / (self.resolution - 1)
        fraction = (np.clip(ticks, self.range_min, self.range_max) - self.range_min) / (
            self.range_max - self.range_min
        )
        if self.norm_mode is NormMode.RANGE_M100_100:
            value = fraction * 200 - 100
            return -value if self._flipped else value
        value = fraction * 100
        return 100 - value if self._flipped else value

    def lerobot_to_ticks(self, value: Values) -> Values:
        if self.norm_mode is NormMode.DEGREES:
            return value * (self.resolution - 1) / 360 + self.middle
        span = self.range_max - self.range_min
        if self.norm_mode is NormMode.RANGE_M100_100:
            value = -value if self._flipped else value
            return (np.clip(value, -100.0, 100.0) + 100) / 200 * span + self.range_min
        value = 100 - value if self._flipped else value
        return np.clip(value, 0.0, 100.0) / 100 * span + self.range_min

    def radians_to_lerobot(self, radians: Values) -> Values:
        return self.ticks_to_lerobot(self.radians_to_ticks(radians))

    def lerobot_to_radians(self, value: Values) -> Values:
        return self.ticks_to_radians(self.lerobot_to_ticks(value))


def round_ticks(ticks: float) -> int:
    """Nearest whole tick (halves away from zero, unlike Python's banker's rounding)."""
    return math.floor(ticks + 0.5) if ticks >= 0 else -math.floor(-ticks + 0.5)
