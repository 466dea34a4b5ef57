"""ROS message types by name: the one lookup every node uses for types named in config (mappings, outputs)."""

from __future__ import annotations

import importlib


def message_class(type_name: str) -> type:
    """The rclpy class of ``pkg/msg/Type`` (e.g. ``sensor_msgs/msg/JointState``); a clear error otherwise."""
    package, kind, name = [*type_name.split("/"), "", ""][:3]
    if kind != "msg" or not package or not name:
        raise ValueError(f"{type_name!r} is not a ROS message type name like 'sensor_msgs/msg/JointState'")
    try:
        module = importlib.import_module(f"{package}.msg")
    except ImportError as error:
        raise ValueError(f"{type_name}: message package {package!r} is not installed ({error})") from None
    cls = getattr(module, name, None)
    if cls is None:
        raise ValueError(f"{type_name}: {package} has no message {name!r}")
    return cls
