"""Joint values in a dataset's units: ROS radians ↔ degrees or lerobot's calibrated units, both ways.

ROS sends radians; a mapping feature may store its joints in another unit (``units:`` in the mapping):
- ``radians`` (default): values as ROS sends them (radians, metres), unchanged.
- ``degrees``: radians · 180/π.
- ``lerobot``: exactly the numbers lerobot's own recorder writes for that arm, so datasets and checkpoints mix
  with lerobot's. Radians are measured from the middle of the calibrated range (as the drivers publish
  them); one turn is ``resolution`` ticks; the ticks are the servo's present position, homing offset already
  applied, i.e. the domain of the calibration's range_min/range_max. Then, per joint norm mode (lerobot's
  MotorsBus):
  - DEGREES:        (ticks − mid) · 360 / (resolution − 1)          (no clamp, drive mode ignored)
  - RANGE_M100_100: clamp((ticks − min)/(max − min)) · 200 − 100    (negated when the drive mode applies)
  - RANGE_0_100:    clamp((ticks − min)/(max − min)) · 100          (100 − x when the drive mode applies)
  Ranged modes clamp to the calibrated range, as lerobot does: radians outside it do not come back.

Pure Python and numpy: the bag converter applies it when writing and the policy node around the policy.
NaN stays NaN in every direction (np.clip keeps it), so a broken value is never turned into a valid position.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import yaml

from lerobot_common.config_files import config_dirs
from lerobot_dataset.mapping import FeatureSource, Mapping, MappingError

# Every servo model the drivers know (Feetech STS3215/3250, Dynamixel X series) has 4096 ticks per turn.
RESOLUTION = 4096
# lerobot's FeetechMotorsBus flips normalized values of drive_mode=1 motors; its DynamixelMotorsBus does not.
DRIVE_MODE_PROTOCOLS = ("feetech",)
DEFAULT_CALIBRATION_ROOT = Path("~/.cache/huggingface/lerobot/calibration")


class NormMode(str, Enum):
    DEGREES = "degrees"
    RANGE_M100_100 = "range_m100_100"
    RANGE_0_100 = "range_0_100"


@dataclass(frozen=True)
class JointUnits:
    """One joint's conversions; every method takes a number or an array (one joint's values)."""

    range_min: int
    range_max: int
    norm_mode: NormMode = NormMode.DEGREES
    resolution: int = RESOLUTION
    drive_mode: int = 0
    apply_drive_mode: bool = True

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

    def ticks_to_radians(self, ticks):
        return (ticks - self.middle) * 2 * math.pi / self.resolution

    def radians_to_ticks(self, radians):
        return radians * self.resolution / (2 * math.pi) + self.middle

    def ticks_to_lerobot(self, ticks):
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

    def lerobot_to_ticks(self, value):
        if self.norm_mode is NormMode.DEGREES:
            return value * (self.resolution - 1) / 360 + self.middle
        span = self.range_max - self.range_min
        if self.norm_mode is NormMode.RANGE_M100_100:
            value = -value if self._flipped else value
            return (np.clip(value, -100.0, 100.0) + 100) / 200 * span + self.range_min
        value = 100 - value if self._flipped else value
        return np.clip(value, 0.0, 100.0) / 100 * span + self.range_min

    def radians_to_lerobot(self, radians):
        return self.ticks_to_lerobot(self.radians_to_ticks(radians))

    def lerobot_to_radians(self, value):
        return self.ticks_to_radians(self.lerobot_to_ticks(value))


@dataclass(frozen=True)
class FeatureUnits:
    """The conversion of one joint feature: values (..., joints) in ROS units ↔ the dataset's units."""

    feature: str
    units: str = "radians"
    joints: tuple[JointUnits, ...] = ()  # units "lerobot": one per joint, in the feature's order

    def to_dataset(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.units == "degrees":
            return np.degrees(values)
        if self.units == "lerobot":
            return self._per_joint(values, [j.radians_to_lerobot for j in self.joints])
        return values

    def to_ros(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.units == "degrees":
            return np.radians(values)
        if self.units == "lerobot":
            return self._per_joint(values, [j.lerobot_to_radians for j in self.joints])
        return values

    def _per_joint(self, values: np.ndarray, functions: list) -> np.ndarray:
        if values.shape[-1:] != (len(functions),):
            raise ValueError(
                f"'{self.feature}' has {len(functions)} joints, got values of shape {values.shape}"
            )
        out = np.empty_like(values)
        for j, function in enumerate(functions):
            out[..., j] = function(values[..., j])
        return out


class MappingUnits:
    """Every joint feature's conversion for one mapping; features without one pass through unchanged."""

    def __init__(self, features: MappingABC[str, FeatureUnits] | None = None) -> None:
        self.features = {k: v for k, v in (features or {}).items() if v.units != "radians"}

    def __bool__(self) -> bool:
        return bool(self.features)

    def to_dataset(self, feature: str, values: np.ndarray) -> np.ndarray:
        units = self.features.get(feature)
        return units.to_dataset(values) if units else values

    def to_ros(self, feature: str, values: np.ndarray) -> np.ndarray:
        units = self.features.get(feature)
        return units.to_ros(values) if units else values


def mapping_units(mapping: Mapping) -> MappingUnits:
    """The conversions a mapping asks for; reads the robot descriptions and calibration files it names."""
    return MappingUnits({name: feature_units(source) for name, source in mapping.features.items()})


def feature_units(source: FeatureSource) -> FeatureUnits:
    if source.units != "lerobot":
        return FeatureUnits(source.feature, source.units)
    where = f"feature '{source.feature}'"
    robot = load_robot_joints(source.robot, where)
    calibration = load_calibration(
        resolve_calibration(source.calibration, robot.lerobot_type, robot.calibration_category), where
    )
    lacking = [j for j in source.joints if j not in robot.norm_modes]
    if lacking:
        raise MappingError(
            f"{where}: robot '{source.robot}' has no joint(s) {lacking} (it has {list(robot.norm_modes)}): "
            "list only that robot's joints, or use units: radians/degrees for the others"
        )
    uncalibrated = [j for j in source.joints if j not in calibration.entries]
    if uncalibrated:
        raise MappingError(
            f"{where}: the calibration {calibration.path} has no joint(s) {uncalibrated} (it has "
            f"{list(calibration.entries)}): calibrate this arm again, or point 'calibration' to its file"
        )
    joints = []
    for name in source.joints:
        entry = calibration.entries[name]
        try:
            joints.append(
                JointUnits(
                    range_min=int(entry["range_min"]),
                    range_max=int(entry["range_max"]),
                    norm_mode=robot.norm_modes[name],
                    drive_mode=int(entry.get("drive_mode", 0)),
                    apply_drive_mode=robot.protocol in DRIVE_MODE_PROTOCOLS,
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MappingError(f"{where}: {calibration.path}, joint '{name}': {error}") from error
    return FeatureUnits(source.feature, "lerobot", tuple(joints))


@dataclass(frozen=True)
class RobotJoints:
    """What the units need from a robot description (config/robots/<robot>.yaml)."""

    lerobot_type: str
    calibration_category: str
    protocol: str
    norm_modes: dict[str, NormMode]


def robot_dirs() -> list[Path]:
    """`$LEROBOT_ROS_ROBOTS_DIR`, then `robots/` of the suite's config (where the drivers look too)."""
    first = [Path(os.environ["LEROBOT_ROS_ROBOTS_DIR"])] if os.environ.get("LEROBOT_ROS_ROBOTS_DIR") else []
    return first + [root / "robots" for root in config_dirs()]


def load_robot_joints(name_or_path: str | None, where: str) -> RobotJoints:
    if not name_or_path:
        raise MappingError(f"{where}: units: lerobot needs 'robot: <name in config/robots/>'")
    path = Path(name_or_path).expanduser()
    if path.suffix not in (".yaml", ".yml"):
        found = [d / f"{name_or_path}.yaml" for d in robot_dirs() if (d / f"{name_or_path}.yaml").is_file()]
        if not found:
            known = sorted({p.stem for d in robot_dirs() if d.is_dir() for p in d.glob("*.yaml")})
            raise MappingError(f"{where}: no robot description named '{name_or_path}'; known: {known}")
        path = found[0]
    try:
        data = yaml.safe_load(path.read_text())
        role = data.get("role", "follower")
        return RobotJoints(
            lerobot_type=data.get("lerobot_type", path.stem),
            calibration_category=data.get(
                "calibration_category", "teleoperators" if role == "leader" else "robots"
            ),
            protocol=data["protocol"],
            norm_modes={j["name"]: NormMode(j["norm_mode"]) for j in data["joints"]},
        )
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise MappingError(f"{where}: cannot read the robot description {path}: {error!r}") from error


def calibration_root() -> Path:
    """lerobot's rule: `$HF_LEROBOT_CALIBRATION`, else `$HF_LEROBOT_HOME/calibration`, else
    `$HF_HOME/lerobot/calibration`, else `~/.cache/huggingface/lerobot/calibration`."""
    if os.environ.get("HF_LEROBOT_CALIBRATION"):
        return Path(os.environ["HF_LEROBOT_CALIBRATION"]).expanduser()
    if os.environ.get("HF_LEROBOT_HOME"):
        return Path(os.environ["HF_LEROBOT_HOME"]).expanduser() / "calibration"
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "lerobot" / "calibration"
    return DEFAULT_CALIBRATION_ROOT.expanduser()


def resolve_calibration(reference: str | None, lerobot_type: str, category: str) -> Path:
    """A calibration JSON path, or a robot id: `<root>/<category>/<lerobot type>/<id>.json` (lerobot's)."""
    if not reference:
        raise MappingError(
            "units: lerobot needs 'calibration': the arm's robot id (as given to lerobot-calibrate) or the "
            "path of its lerobot calibration JSON"
        )
    path = Path(reference).expanduser()
    if path.suffix == ".json" or os.sep in reference:
        return path
    return calibration_root() / category / lerobot_type / f"{reference}.json"


@dataclass(frozen=True)
class Calibration:
    path: Path
    entries: dict[str, dict]


def load_calibration(path: Path, where: str) -> Calibration:
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise MappingError(
            f"{where}: no calibration at {path}: calibrate the arm (lerobot-ros-calibrate or "
            "lerobot-calibrate) or set 'calibration' to its robot id or JSON path"
        ) from error
    except (OSError, json.JSONDecodeError) as error:
        raise MappingError(f"{where}: cannot read the calibration {path}: {error}") from error
    if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        raise MappingError(f"{where}: {path} is not a lerobot calibration (motor name → its entry)")
    return Calibration(path, entries)
