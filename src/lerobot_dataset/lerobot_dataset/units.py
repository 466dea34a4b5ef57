"""Joint values in a dataset's units: ROS radians ↔ degrees or lerobot's calibrated units, both ways.

ROS sends radians; a mapping feature may store its joints in another unit (``units:`` in the mapping):
- ``radians`` (default): values as ROS sends them (radians, metres), unchanged.
- ``degrees``: radians · 180/π.
- ``lerobot``: exactly the numbers lerobot's own recorder writes for that arm, so datasets and checkpoints mix
  with lerobot's: each joint's norm mode and motor resolution come from the robot description, its range and
  drive mode from the arm's calibration (the formulas: lerobot_common.units).

Pure Python and numpy: the bag converter applies it when writing and the policy node around the policy.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass

import numpy as np

from lerobot_common.calibration import load_calibration, resolve_calibration
from lerobot_common.robot_description import load_robot_description
from lerobot_common.units import JointUnits
from lerobot_dataset.mapping import FeatureSource, Mapping, MappingError


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
    """One feature's conversion; reads the robot description and the calibration it names (parse_mapping
    has checked that both are given)."""
    if source.units != "lerobot":
        return FeatureUnits(source.feature, source.units)
    where = f"feature '{source.feature}'"
    try:
        robot = load_robot_description(source.robot)
        path = resolve_calibration(
            source.calibration, robot.lerobot_type, category=robot.calibration_category
        )
        calibration = load_calibration(path)
    except (OSError, ValueError) as error:
        raise MappingError(f"{where}: {error}") from error
    joints = {joint.name: joint for joint in robot.joints}
    lacking = [j for j in source.joints if j not in joints]
    if lacking:
        raise MappingError(
            f"{where}: robot '{source.robot}' has no joint(s) {lacking} (it has {list(joints)}): "
            "list only that robot's joints, or use units: radians/degrees for the others"
        )
    uncalibrated = [j for j in source.joints if j not in calibration]
    if uncalibrated:
        raise MappingError(
            f"{where}: the calibration {path} has no joint(s) {uncalibrated} (it has "
            f"{list(calibration)}): calibrate this arm again, or point 'calibration' to its file"
        )
    try:
        units = tuple(robot.joint_units(joints[name], calibration[name]) for name in source.joints)
    except ValueError as error:
        raise MappingError(f"{where}: {path}: {error}") from error
    return FeatureUnits(source.feature, "lerobot", units)
