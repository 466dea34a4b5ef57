"""Message definitions for bag connections, without ROS.

MCAP stores each topic's full message definition, and rosbag2 metadata a type hash, so that a bag can be
read without the producer's packages. Standard types come from rosbags' typestore; others (lerobot_msgs, a
user's own interfaces) from the `.msg` files that every ROS prefix installs under `share/<package>/msg/`.
"""

from __future__ import annotations

import os
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore


class UnknownMessageType(LookupError):
    """A message type whose definition is neither built in nor installed in any ROS prefix."""


def _prefixes() -> list[Path]:
    return [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]


def _register_package(typestore: Typestore, package: str) -> bool:
    """Register every `.msg` of ``package`` found in the ROS prefixes; False when none is installed."""
    for prefix in _prefixes():
        folder = prefix / "share" / package / "msg"
        files = sorted(folder.glob("*.msg"))
        if files:
            types = {}
            for path in files:
                types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
            typestore.register(types)
            return True
    return False


def typestore_for(msgtypes: list[str] | set[str]) -> Typestore:
    """A typestore that knows every type in ``msgtypes`` (names like ``sensor_msgs/msg/JointState``)."""
    typestore = get_typestore(Stores.LATEST)
    for msgtype in sorted(set(msgtypes)):
        if msgtype in typestore.fielddefs:
            continue
        package = msgtype.split("/")[0]
        if not _register_package(typestore, package) or msgtype not in typestore.fielddefs:
            raise UnknownMessageType(
                f"no definition of {msgtype}: it is neither a standard type nor installed under any "
                f"AMENT_PREFIX_PATH prefix (share/{package}/msg/). Source the workspace that provides it."
            )
    return typestore
