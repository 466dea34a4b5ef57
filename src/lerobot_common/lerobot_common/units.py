"""Joint units: encoder ticks ↔ radians (ROS) and ticks ↔ lerobot's normalized units (datasets).

Radians are measured from the middle of the calibrated range, the pose lerobot's calibration centres at half
a turn; one turn is `resolution` ticks. lerobot's units are exactly those of its MotorsBus:
- DEGREES:        (ticks − mid) · 360 / (resolution − 1)          (no clamp, drive mode ignored)
- RANGE_M100_100: clamp((ticks − min)/(max − min)) · 200 − 100    (negated when the drive mode applies)
- RANGE_0_100:    clamp((ticks − min)/(max − min)) · 100          (100 − x when the drive mode applies)
The inverse conversions return fractional ticks; lerobot truncates them with int(), this driver rounds
(`round_ticks`), so the two may differ by one tick (0.09°).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class NormMode(str, Enum):
    DEGREES = "degrees"
    RANGE_M100_100 = "range_m100_100"
    RANGE_0_100 = "range_0_100"


@dataclass(frozen=True)
class JointUnits:
    range_min: int
    range_max: int
    norm_mode: NormMode = NormMode.DEGREES
    resolution: int = 4096
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
    def ticks_to_radians(self, ticks: float) -> float:
        return (ticks - self.middle) * 2 * math.pi / self.resolution

    def radians_to_ticks(self, radians: float) -> float:
        return radians * self.resolution / (2 * math.pi) + self.middle

    @property
    def radian_limits(self) -> tuple[float, float]:
        return self.ticks_to_radians(self.range_min), self.ticks_to_radians(self.range_max)

    # ------------------------------------------------------------------------------------------ lerobot
    def ticks_to_lerobot(self, ticks: float) -> float:
        if self.norm_mode is NormMode.DEGREES:
            return (ticks - self.middle) * 360 / (self.resolution - 1)
        fraction = (min(self.range_max, max(self.range_min, ticks)) - self.range_min) / (
            self.range_max - self.range_min
        )
        if self.norm_mode is NormMode.RANGE_M100_100:
            value = fraction * 200 - 100
            return -value if self._flipped else value
        value = fraction * 100
        return 100 - value if self._flipped else value

    def lerobot_to_ticks(self, value: float) -> float:
        if self.norm_mode is NormMode.DEGREES:
            return value * (self.resolution - 1) / 360 + self.middle
        span = self.range_max - self.range_min
        if self.norm_mode is NormMode.RANGE_M100_100:
            value = -value if self._flipped else value
            return (min(100.0, max(-100.0, value)) + 100) / 200 * span + self.range_min
        value = 100 - value if self._flipped else value
        return min(100.0, max(0.0, value)) / 100 * span + self.range_min

    def radians_to_lerobot(self, radians: float) -> float:
        return self.ticks_to_lerobot(self.radians_to_ticks(radians))

    def lerobot_to_radians(self, value: float) -> float:
        return self.ticks_to_radians(self.lerobot_to_ticks(value))


def round_ticks(ticks: float) -> int:
    """Nearest whole tick (halves away from zero, unlike Python's banker's rounding)."""
    return math.floor(ticks + 0.5) if ticks >= 0 else -math.floor(-ticks + 0.5)
