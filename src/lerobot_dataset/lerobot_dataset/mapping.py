"""Topic ↔ feature mappings: which ROS topics become which LeRobot features.

One YAML file (`config/mappings/<name>.yaml`) is the recording profile of the recorder, the mapping of
the bag converter and the observation/action wiring of the policy node. It is stored in every bag and dataset
made with it, so a deployment can be checked against what the policy was trained on. Pure data: no ROS.

```yaml
name: so101_sim                 # profile name (also the default bag folder name)
robot_type: so101               # info.json robot_type
fps: 30                         # dataset frame rate = policy control rate
task: Pick up the cube.         # default task text
storage: mcap                   # rosbag2 storage: mcap (default) or sqlite3
features:                       # LeRobot feature name → its source topic
  observation.state: {topic: /joint_states, type: sensor_msgs/msg/JointState, joints: [a, b, c]}
  action: {topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: [a, b, c]}
  observation.images.front: {topic: /front/image_raw, type: sensor_msgs/msg/Image, sync: drop}
  # optional per joint feature: units: radians (default, as ROS sends them) | degrees | lerobot, the last
  # with robot: <config/robots name> and calibration: <robot id or lerobot calibration JSON> (units.py)
record_also: [/tf]              # optional: extra topics recorded in the bag but not converted
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lerobot_common.config_files import config_dirs

JOINT_TYPES = (
    "sensor_msgs/msg/JointState",
    "std_msgs/msg/Float64MultiArray",
    "trajectory_msgs/msg/JointTrajectory",
)
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
# Types whose header stamp is the sample's time (the first field: the converter reads it from the raw CDR);
# a JointTrajectory's stamp is a start time (often 0: "now"), so it and the header-less types are timed by
# the recorder's receive clock.
STAMPED_TYPES = ("sensor_msgs/msg/JointState", *IMAGE_TYPES)
STORAGES = ("mcap", "sqlite3")
# The suite's files inside a dataset (lerobot ignores them), and there the mapping the dataset was made with.
SUITE_META = Path("meta") / "lerobot_ros"
DATASET_MAPPING_FILE = SUITE_META / "mapping.yaml"
# How the bag converter picks a stream's sample for each frame (see lerobot_recorder.sync).
SYNC_POLICIES = ("hold", "drop", "nearest")
# How a joint feature's values are stored in the dataset (lerobot_dataset.units converts them).
UNITS = ("radians", "degrees", "lerobot")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message says which key is wrong and how to fix it."""


@dataclass(frozen=True)
class FeatureSource:
    """Where one LeRobot feature comes from."""

    feature: str
    topic: str
    type: str
    joints: tuple[str, ...] = ()  # for joint-valued features: the order of the feature's values
    sync: str | None = None  # hold | drop | nearest; None: the converter's default for the feature kind
    tolerance: float | None = None  # seconds a sample may be away from its frame time; None: default
    units: str = "radians"  # radians | degrees | lerobot: the unit of the feature's values in the dataset
    robot: str | None = None  # units "lerobot": robot description (config/robots/) giving each norm mode
    calibration: str | None = None  # units "lerobot": robot id or path of the lerobot calibration JSON

    @property
    def is_image(self) -> bool:
        return self.type in IMAGE_TYPES


@dataclass(frozen=True)
class Mapping:
    name: str
    robot_type: str
    fps: int
    task: str
    features: dict[str, FeatureSource]
    storage: str = "mcap"
    record_also: tuple[str, ...] = ()
    source_text: str = field(default="", compare=False, repr=False)  # the YAML as written, stored with bags

    def topics(self) -> dict[str, str]:
        """Every topic to record → its message type (features first, then `record_also` with type "")."""
        topics = {source.topic: source.type for source in self.features.values()}
        for topic in self.record_also:
            topics.setdefault(topic, "")
        return topics


def _require(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise MappingError(f"{where}: missing key '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise MappingError(f"{where}: '{key}' must be a {kind.__name__}, got {value!r}")
    return value


def _feature(name: str, data: Any, where: str) -> FeatureSource:
    where = f"{where}: feature '{name}'"
    if "/" in name:
        raise MappingError(
            f"{where}: LeRobot feature names cannot contain '/' (use dots, e.g. observation.state)"
        )
    if not isinstance(data, dict):
        raise MappingError(f"{where}: expected a mapping with 'topic' and 'type', got {data!r}")
    topic = _require(data, "topic", str, where)
    msgtype = _require(data, "type", str, where)
    if msgtype not in JOINT_TYPES + IMAGE_TYPES:
        raise MappingError(
            f"{where}: type '{msgtype}' is not supported; use one of: " + ", ".join(JOINT_TYPES + IMAGE_TYPES)
        )
    joints: tuple[str, ...] = ()
    if msgtype in JOINT_TYPES:
        names = _require(data, "joints", list, where)
        if not names or not all(isinstance(j, str) for j in names) or len(set(names)) != len(names):
            raise MappingError(f"{where}: 'joints' must be a non-empty list of distinct joint names")
        joints = tuple(names)
    unknown = set(data) - {"topic", "type", "joints", "sync", "tolerance", "units", "robot", "calibration"}
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {sorted(unknown)}")
    sync = data.get("sync")
    if sync is not None and sync not in SYNC_POLICIES:
        raise MappingError(f"{where}: 'sync' must be one of {SYNC_POLICIES}, got {sync!r}")
    tolerance = data.get("tolerance")
    if tolerance is not None and (not isinstance(tolerance, (int, float)) or tolerance <= 0):
        raise MappingError(f"{where}: 'tolerance' must be a positive number of seconds, got {tolerance!r}")
    units = data.get("units", "radians")
    if units not in UNITS or (units != "radians" and not joints):
        raise MappingError(f"{where}: 'units' must be one of {UNITS} on a joint feature, got {units!r}")
    robot, calibration = data.get("robot"), data.get("calibration")
    if units == "lerobot":
        if not isinstance(robot, str) or not isinstance(calibration, str):
            raise MappingError(
                f"{where}: units: lerobot needs 'robot: <name in config/robots/, e.g. so101_follower>' and "
                "'calibration: <the arm's robot id, or the path of its lerobot calibration JSON>'"
            )
    elif robot is not None or calibration is not None:
        raise MappingError(f"{where}: 'robot' and 'calibration' only go with units: lerobot")
    return FeatureSource(
        feature=name, topic=topic, type=msgtype, joints=joints, sync=sync, tolerance=tolerance,
        units=units, robot=robot, calibration=calibration,
    )  # fmt: skip


def parse_mapping(text: str, where: str = "mapping") -> Mapping:
    """Parse and check a mapping given as YAML text; ``where`` names it in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MappingError(f"{where}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise MappingError(f"{where}: expected a YAML mapping at the top level")
    unknown = set(data) - {"name", "robot_type", "fps", "task", "storage", "features", "record_also"}
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {sorted(unknown)}")
    fps = _require(data, "fps", int, where)
    if fps <= 0:
        raise MappingError(f"{where}: 'fps' must be a positive integer, got {fps}")
    storage = data.get("storage", "mcap")
    if storage not in STORAGES:
        raise MappingError(f"{where}: 'storage' must be one of {STORAGES}, got {storage!r}")
    features_data = _require(data, "features", dict, where)
    features = {name: _feature(name, spec, where) for name, spec in features_data.items()}
    if "action" not in features:
        raise MappingError(f"{where}: no 'action' feature: name the topic that carries the commands")
    if not any(name.startswith("observation.") for name in features):
        raise MappingError(
            f"{where}: no observation feature (observation.state, observation.images.<camera>)"
        )
    for name, source in features.items():
        if source.is_image != name.startswith("observation.images."):
            raise MappingError(
                f"{where}: feature '{name}' has type {source.type}; image topics map to "
                "observation.images.<camera> features and joint topics to the others"
            )
    record_also = data.get("record_also", [])
    if not isinstance(record_also, list) or not all(isinstance(t, str) for t in record_also):
        raise MappingError(f"{where}: 'record_also' must be a list of topic names")
    return Mapping(
        name=_require(data, "name", str, where),
        robot_type=_require(data, "robot_type", str, where),
        fps=fps,
        task=str(data.get("task", "")),
        features=features,
        storage=storage,
        record_also=tuple(record_also),
        source_text=text,
    )


def load_mapping(name_or_path: str | os.PathLike[str]) -> Mapping:
    """Load a mapping from a YAML path, or by name from `config/mappings/<name>.yaml`."""
    path = Path(name_or_path)
    if not path.is_file() and path.suffix == "" and len(path.parts) == 1:
        candidates = [root / "mappings" / f"{path}.yaml" for root in config_dirs()]
        found = [c for c in candidates if c.is_file()]
        if not found:
            known = sorted({p.stem for root in config_dirs() for p in (root / "mappings").glob("*.yaml")})
            raise MappingError(
                f"no mapping named '{path}'; known: {', '.join(known) or 'none'} (or give a path)"
            )
        path = found[0]
    if not path.is_file():
        raise MappingError(f"mapping file {path} does not exist")
    return parse_mapping(path.read_text(), where=str(path))
