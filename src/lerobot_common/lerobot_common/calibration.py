"""lerobot's calibration files: same JSON, same place, so a calibration made with lerobot just works.

`$HF_LEROBOT_CALIBRATION/robots/<robot type>/<robot id>.json` (teleoperators such as leader arms live under
`teleoperators/`), default root `~/.cache/huggingface/lerobot/calibration`. One entry per motor name:
`{"shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1470, "range_min": 758, "range_max": 3292}}`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_CALIBRATION_ROOT = Path("~/.cache/huggingface/lerobot/calibration")
_FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")


@dataclass(frozen=True)
class MotorCalibration:
    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int


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


def calibration_path(
    robot_type: str, robot_id: str, *, category: str = "robots", root: Path | None = None
) -> Path:
    """Where lerobot keeps the calibration of `robot_type` named `robot_id`."""
    return (root or calibration_root()) / category / robot_type / f"{robot_id}.json"


def resolve_calibration(reference: str, robot_type: str, *, category: str = "robots") -> Path:
    """A calibration given as the path of its JSON, or as a robot id: lerobot's place for that id."""
    path = Path(reference).expanduser()
    if path.suffix == ".json" or os.sep in reference:
        return path
    return calibration_path(robot_type, reference, category=category)


def load_calibration(path: Path) -> dict[str, MotorCalibration]:
    """Read a lerobot calibration JSON; the error says how to create a missing one."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"no calibration at {path}: calibrate this arm once with `lerobot-ros-calibrate` (or lerobot's "
            "own `lerobot-calibrate`), or pass the robot id that was used when it was calibrated"
        ) from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}): recalibrate or restore the file") from err
    if not isinstance(raw, dict) or not all(isinstance(entry, dict) for entry in raw.values()):
        raise ValueError(
            f"{path} is not a lerobot calibration (motor name → its entry): recalibrate this arm"
        )
    calibration = {}
    for motor, entry in raw.items():
        missing = [field for field in _FIELDS if field not in entry]
        if missing:
            raise ValueError(f"{path}: motor {motor!r} lacks {missing}: recalibrate this arm")
        calibration[motor] = MotorCalibration(**{field: int(entry[field]) for field in _FIELDS})
    return calibration


def save_calibration(path: Path, calibration: dict[str, MotorCalibration]) -> None:
    """Write the calibration exactly as lerobot does (indented JSON, motor order kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {motor: asdict(entry) for motor, entry in calibration.items()}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=4) + "\n")
    tmp.replace(path)  # atomic: a crash never leaves half a calibration behind
