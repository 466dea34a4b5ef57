"""ROS messages ↔ numpy, without ROS: the one place where message fields meet arrays.

Reading: the bag converter (messages deserialized by rosbags), the policy node and the drivers' nodes (rclpy
messages) all call it; both kinds of message have the same field names, so the functions only read
attributes. Writing: `image_fields` gives the fields of an Image for an array, the drivers' nodes put them
into their rclpy message. One encoding table for both ways, and images are always height × width × channels,
as a dataset stores them: colour as RGB, depth with one channel. ROS units are kept (radians, metres):
converting is the caller's job.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

# encoding → (dtype, channels) for sensor_msgs/Image (REP 118 names as used by cameras and cv_bridge)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
# The encoding an array gets when none is named: colour is RGB (DESIGN.md), depth is 16UC1 millimetres.
DEFAULT_ENCODINGS: dict[tuple[np.dtype, int], str] = {
    (np.dtype(np.uint8), 3): "rgb8",
    (np.dtype(np.uint8), 1): "mono8",
    (np.dtype(np.uint16), 1): "16UC1",
    (np.dtype(np.float32), 1): "32FC1",
}


class MessageError(ValueError):
    """A message that cannot become the values asked of it (a feature, a command); the text says why."""


def stamp_ns(msg: Any) -> int | None:
    """The header stamp in nanoseconds, or None when the message has no header or leaves it zero."""
    header = getattr(msg, "header", None)
    if header is None:
        return None
    stamp = header.stamp
    value = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    return value or None


def _reorder(names: Sequence[str], values: Sequence[float], joints: Sequence[str], what: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    missing = [j for j in joints if j not in index]
    if missing:
        raise MessageError(f"{what} has no joint(s) {missing}; it has {list(names)}")
    if len(values) < len(names):
        raise MessageError(f"{what} names {len(names)} joints but carries {len(values)} positions")
    return np.array([values[index[j]] for j in joints], dtype=np.float64)


def joint_positions_by_name(msg: Any) -> dict[str, float]:
    """A JointState's positions by joint name (topic_based_ros2_control's convention); maybe a subset."""
    if len(msg.position) != len(msg.name):
        raise MessageError(
            f"JointState names {len(msg.name)} joints but carries {len(msg.position)} positions"
        )
    return dict(zip(msg.name, (float(p) for p in msg.position), strict=True))


def joint_positions_in_order(msg: Any, joint_names: Sequence[str]) -> dict[str, float]:
    """A Float64MultiArray's positions in joint order (forward_command_controller's convention); a wrong
    length is an error."""
    if len(msg.data) != len(joint_names):
        raise MessageError(f"{len(msg.data)} values for {len(joint_names)} joints {list(joint_names)}")
    return dict(zip(joint_names, (float(v) for v in msg.data), strict=True))


def joint_values(msg: Any, msgtype: str, joints: Sequence[str]) -> np.ndarray:
    """Joint positions in the order of ``joints`` from a JointState, Float64MultiArray or JointTrajectory."""
    if msgtype == "sensor_msgs/msg/JointState":
        return _reorder(msg.name, msg.position, joints, "JointState")
    if msgtype == "std_msgs/msg/Float64MultiArray":
        data = np.asarray(msg.data, dtype=np.float64)
        if data.shape != (len(joints),):
            raise MessageError(
                f"Float64MultiArray carries {data.size} values, the mapping names {len(joints)} joints "
                f"({', '.join(joints)}): list the controller's joints in its order"
            )
        return data
    if msgtype == "trajectory_msgs/msg/JointTrajectory":
        if not msg.points:
            raise MessageError("JointTrajectory without points")
        return _reorder(msg.joint_names, msg.points[0].positions, joints, "JointTrajectory")
    raise MessageError(f"{msgtype} does not carry joint positions")


def image_array(msg: Any, msgtype: str) -> np.ndarray:
    """An Image or CompressedImage as height × width × channels: RGB uint8 for colour, 1 channel for depth."""
    if msgtype == "sensor_msgs/msg/CompressedImage":
        from PIL import Image as PILImage  # only compressed streams need it

        try:
            with PILImage.open(io.BytesIO(bytes(msg.data))) as picture:
                return np.asarray(picture.convert("RGB"))
        except OSError as error:
            raise MessageError(f"cannot decode CompressedImage ({msg.format!r}): {error}") from error
    if msgtype != "sensor_msgs/msg/Image":
        raise MessageError(f"{msgtype} is not an image")
    if msg.encoding not in IMAGE_ENCODINGS:
        raise MessageError(
            f"Image encoding {msg.encoding!r} is not supported; use one of {sorted(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(
        bytes(msg.data) if not isinstance(msg.data, np.ndarray) else msg.data, dtype=np.uint8
    )
    if data.size < height * step or step < width * channels * dtype.itemsize:
        raise MessageError(
            f"Image {width}×{height} {msg.encoding}: step {step} and {data.size} bytes do not fit"
        )
    rows = data[: height * step].reshape(height, step)[:, : width * channels * dtype.itemsize]
    pixels = rows.copy().view(dtype).reshape(height, width, channels).astype(dtype.newbyteorder("="))
    if msg.encoding in ("bgr8", "bgra8"):
        pixels = pixels[..., [2, 1, 0]]
    elif msg.encoding in ("rgba8",):
        pixels = pixels[..., :3]
    elif channels == 1 and dtype.itemsize == 1:  # mono8: grey to RGB (depth maps are 16-bit or float)
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def image_fields(pixels: np.ndarray, encoding: str | None = None) -> dict[str, Any]:
    """The Image fields (height, width, encoding, is_bigendian, step, data) of an (H, W) or (H, W, C) array;
    ``encoding`` defaults from dtype and channels (rgb8, mono8, 16UC1, 32FC1). ``data`` is bytes: the
    message constructor takes them at once, assigning element by element would check each one."""
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if encoding is None:
        encoding = DEFAULT_ENCODINGS.get((pixels.dtype, channels))
        if encoding is None:
            raise ValueError(f"no image encoding for {channels} channel(s) of {pixels.dtype}: name one")
    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r}: use one of {sorted(IMAGE_ENCODINGS)}")
    dtype, expected_channels = IMAGE_ENCODINGS[encoding]
    if pixels.dtype != dtype or channels != expected_channels:
        raise ValueError(
            f"{encoding} needs {expected_channels} channel(s) of {dtype}, got {pixels.shape} {pixels.dtype}"
        )
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": int(pixels.dtype.byteorder == ">"),
        "step": width * channels * dtype.itemsize,
        "data": pixels.tobytes(),
    }
