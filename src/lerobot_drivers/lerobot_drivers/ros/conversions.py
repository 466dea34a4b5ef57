"""The rclpy messages the drivers' nodes publish: stamps, images, camera info, joint states.

The numpy side (encodings, reading messages back) is lerobot_common.conversions; this module only puts its
fields into message objects. No cv_bridge.
"""

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header

from lerobot_common.conversions import image_fields


# ----------------------------------------------------------------------------------------------------- stamps
def stamp_from_ns(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def stamp_from_seconds(seconds: float) -> Time:
    return stamp_from_ns(round(seconds * 1e9))


# ----------------------------------------------------------------------------------------------------- images
def image_msg(pixels: np.ndarray, stamp: Time, frame_id: str, encoding: str | None = None) -> Image:
    """An `Image` from an (H, W) or (H, W, C) array; `encoding` defaults from dtype and channels (rgb8...)."""
    return Image(header=Header(stamp=stamp, frame_id=frame_id), **image_fields(pixels, encoding))


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
