"""Robot descriptions: which motors an arm has, in which order, with which units (YAML, `config/robots/`).

The one parser: the drivers run arms from it, and datasets with `units: lerobot` take each joint's norm
mode and motor resolution from it. A description is named (`so101_follower`, looked up in
`$LEROBOT_ROS_ROBOTS_DIR`, then `config/robots/`) or given as a path (a `.yaml`/`.yml` name, or any name
with a path separator).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lerobot_common.calibration import MotorCalibration
from lerobot_common.config_files import config_dirs
from lerobot_common.motors import DRIVE_MODE_PROTOCOLS, MOTOR_MODELS
from lerobot_common.units import JointUnits, NormMode

ROLES = ("follower", "leader")
CALIBRATION_CATEGORIES = ("robots", "teleoperators")


@dataclass(frozen=True)
class JointDescription:
    name: str
    id: int
    model: str
    norm_mode: NormMode
    limits: tuple[float, float] | None = (
        None  # radians; commands are clamped to these and the calibrated range
    )
    full_turn: bool = (
        False  # turns freely: calibration takes the whole encoder range instead of recording one
    )
    settings: dict[str, int] = field(default_factory=dict)  # registers written when the arm connects


@dataclass(frozen=True)
class RobotDescription:
    name: str
    lerobot_type: str  # lerobot's robot/teleoperator type: names the calibration folder
    calibration_category: str  # "robots" or "teleoperators" (lerobot keeps leader arms under the latter)
    protocol: str
    baudrate: int
    role: str
    joints: tuple[JointDescription, ...]

    @property
    def joint_names(self) -> list[str]:
        return [joint.name for joint in self.joints]

    def joint_units(self, joint: JointDescription, calibration: MotorCalibration) -> JointUnits:
        """The conversions of one of this robot's joints, calibrated as ``calibration`` says."""
        return JointUnits(
            range_min=calibration.range_min,
            range_max=calibration.range_max,
            norm_mode=joint.norm_mode,
            resolution=MOTOR_MODELS[joint.model].resolution,
            drive_mode=calibration.drive_mode,
            apply_drive_mode=self.protocol in DRIVE_MODE_PROTOCOLS,
        )


def robot_description_dirs() -> list[Path]:
    """Where descriptions are looked up: `$LEROBOT_ROS_ROBOTS_DIR`, then `robots/` of the suite's config."""
    dirs = [Path(os.environ["LEROBOT_ROS_ROBOTS_DIR"])] if os.environ.get("LEROBOT_ROS_ROBOTS_DIR") else []
    return dirs + [directory / "robots" for directory in config_dirs()]


def find_robot_description(name_or_path: str) -> Path:
    """A description file from a path or a name such as `so101_follower`."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not candidate.is_file():
            raise FileNotFoundError(f"robot description {candidate} does not exist")
        return candidate
    dirs = robot_description_dirs()
    for directory in dirs:
        path = directory / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise FileNotFoundError(f"no robot description named {name_or_path!r}: known robots are {known}")


def load_robot_description(name_or_path: str) -> RobotDescription:
    """The description named or at ``name_or_path``: FileNotFoundError or ValueError saying what is wrong."""
    path = find_robot_description(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping of fields, got {type(data).__name__}")
        return _parse(data, path)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: invalid robot description: {err}") from err


def _parse(data: dict, path: Path) -> RobotDescription:
    protocol = data["protocol"]
    role = data.get("role", "follower")
    category = data.get("calibration_category", "teleoperators" if role == "leader" else "robots")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    if category not in CALIBRATION_CATEGORIES:
        raise ValueError(f"calibration_category {category!r} is not one of {CALIBRATION_CATEGORIES}")
    default_settings = dict(data.get("default_settings") or {})
    joints = []
    for entry in data["joints"]:
        model = MOTOR_MODELS.get(entry["model"])
        if model is None or model.protocol != protocol:
            raise ValueError(f"joint {entry['name']!r}: {entry['model']!r} is not a known {protocol} model")
        limits = entry.get("limits")
        if limits is not None and (len(limits) != 2 or limits[0] >= limits[1]):
            raise ValueError(
                f"joint {entry['name']!r}: limits must be [lower, upper] in radians, got {limits}"
            )
        joints.append(
            JointDescription(
                name=entry["name"],
                id=int(entry["id"]),
                model=entry["model"],
                norm_mode=NormMode(entry["norm_mode"]),
                limits=(float(limits[0]), float(limits[1])) if limits is not None else None,
                full_turn=bool(entry.get("full_turn", False)),
                settings={**default_settings, **(entry.get("settings") or {})},
            )
        )
    names = [joint.name for joint in joints]
    if len(set(names)) != len(names):
        raise ValueError(f"joint names repeat: {names}")
    return RobotDescription(
        name=data.get("name", path.stem),
        lerobot_type=data.get("lerobot_type", path.stem),
        calibration_category=category,
        protocol=protocol,
        baudrate=int(data.get("baudrate", 1_000_000)),
        role=role,
        joints=tuple(joints),
    )
