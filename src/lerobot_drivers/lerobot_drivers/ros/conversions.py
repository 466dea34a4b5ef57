"""The one place where ROS messages meet numpy: images, camera info, joint states, joint commands, stamps.

Used by every node of this package (arm, camera, sim). No cv_bridge: images convert with numpy alone, and
large payloads go to the message constructor as bytes (assigning them field by field checks every element).
"""

# No `from __future__ import annotations`: nodes read the message classes from these functions' annotations.
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header

# encoding → (numpy dtype, channels)
ENCODINGS = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
# The encoding an array gets when none is named: colour is RGB (DESIGN.md), depth is 16UC1 millimetres.
_DEFAULT_ENCODINGS = {(np.dtype(np.uint8), 3): "rgb8", (np.dtype(np.uint8), 1): "mono8",
                      (np.dtype(np.uint16), 1): "16UC1", (np.dtype(np.float32), 1): "32FC1"}  # fmt: skip


# ----------------------------------------------------------------------------------------------------- stamps
def stamp_from_ns(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def stamp_from_seconds(seconds: float) -> Time:
    return stamp_from_ns(round(seconds * 1e9))


def ns_from_stamp(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


# ----------------------------------------------------------------------------------------------------- images
def image_msg(pixels: np.ndarray, stamp: Time, frame_id: str, encoding: str | None = None) -> Image:
    """An `Image` from an (H, W) or (H, W, C) array; `encoding` defaults from dtype and channels (rgb8...)."""
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if encoding is None:
        encoding = _DEFAULT_ENCODINGS.get((pixels.dtype, channels))
        if encoding is None:
            raise ValueError(f"no image encoding for {channels} channel(s) of {pixels.dtype}: name one")
    dtype, expected_channels = _encoding(encoding)
    if pixels.dtype != dtype or channels != expected_channels:
        raise ValueError(
            f"{encoding} needs {expected_channels} channel(s) of {dtype}, got {pixels.shape} {pixels.dtype}"
        )
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return Image(
        header=Header(stamp=stamp, frame_id=frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(pixels.dtype.byteorder == ">"),
        step=width * channels * dtype.itemsize,
        data=pixels.tobytes(),
    )


def image_from_msg(msg: Image) -> np.ndarray:
    """The (H, W, C) array of an `Image` ((H, W) for one channel); honours row padding and byte order."""
    dtype, channels = _encoding(msg.encoding)
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(msg.data, dtype=wire).reshape(msg.height, msg.step // dtype.itemsize)
    pixels = rows[:, : msg.width * channels]
    pixels = pixels.reshape(msg.height, msg.width, channels) if channels > 1 else pixels
    return pixels.astype(dtype, copy=False)


def camera_info_msg(
    width: int,
    height: int,
    matrix: np.ndarray | None,
    stamp: Time,
    frame_id: str,
    distortion: Sequence[float] = (),
    distortion_model: str = "plumb_bob",
) -> CameraInfo:
    """Pinhole `CameraInfo` from the 3×3 matrix K; `matrix=None` (intrinsics unknown) gives all-zero K and P,
    the convention for an uncalibrated camera."""
    k = np.zeros((3, 3)) if matrix is None else np.asarray(matrix, dtype=float).reshape(3, 3)
    p = np.hstack([k, np.zeros((3, 1))])
    return CameraInfo(
        header=Header(stamp=stamp, frame_id=frame_id),
        width=int(width),
        height=int(height),
        distortion_model=distortion_model,
        d=[float(c) for c in distortion] or ([0.0] * 5 if distortion_model == "plumb_bob" else []),
        k=k.ravel().tolist(),
        r=np.eye(3).ravel().tolist(),
        p=p.ravel().tolist(),
    )


# ----------------------------------------------------------------------------------------------------- joints
def joint_state_msg(
    names: Sequence[str],
    positions: Sequence[float],
    velocities: Sequence[float] | None = None,
    efforts: Sequence[float] | None = None,
    stamp: Time | None = None,
    frame_id: str = "",
) -> JointState:
    return JointState(
        header=Header(stamp=stamp if stamp is not None else Time(), frame_id=frame_id),
        name=list(names),
        position=[float(p) for p in positions],
        velocity=[float(v) for v in velocities] if velocities is not None else [],
        effort=[float(e) for e in efforts] if efforts is not None else [],
    )


def joint_positions_by_name(msg: JointState) -> dict[str, float]:
    """Goal positions by joint name (topic_based_ros2_control's convention); the message may name a subset."""
    if len(msg.position) != len(msg.name):
        raise ValueError(f"JointState names {len(msg.name)} joints but carries {len(msg.position)} positions")
    return dict(zip(msg.name, (float(p) for p in msg.position), strict=True))


def joint_positions_in_order(msg: Float64MultiArray, joint_names: Sequence[str]) -> dict[str, float]:
    """Goal positions in joint order (forward_command_controller's convention); a wrong length is an error."""
    if len(msg.data) != len(joint_names):
        raise ValueError(f"{len(msg.data)} values for {len(joint_names)} joints {list(joint_names)}")
    return dict(zip(joint_names, (float(v) for v in msg.data), strict=True))


def _encoding(encoding: str) -> tuple:
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r}: use one of {sorted(ENCODINGS)}")
    return ENCODINGS[encoding]
