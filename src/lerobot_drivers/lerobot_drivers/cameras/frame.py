"""What every camera backend delivers: RGB frames stamped at capture, optional aligned depth, intrinsics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class CameraError(RuntimeError):
    """The camera could not be opened or stopped delivering frames."""


class CameraUnavailableError(CameraError):
    """The backend's library is missing (e.g. pyrealsense2)."""


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float = 0.0  # 0: unknown (an uncalibrated camera)
    fy: float = 0.0
    cx: float = 0.0
    cy: float = 0.0
    distortion_model: str = "plumb_bob"
    distortion: tuple[float, ...] = ()

    def matrix(self) -> np.ndarray | None:
        """The 3×3 camera matrix K, or None when the intrinsics are unknown."""
        if not self.fx:
            return None
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Frame:
    color: np.ndarray  # (H, W, 3) uint8, RGB
    stamp_ns: int  # capture time on the system clock (ns since the epoch)
    depth: np.ndarray | None = None  # (H, W) uint16 millimetres, aligned to `color`


@dataclass
class CameraConfig:
    backend: str = "opencv"  # "opencv" (V4L2 devices, video files) or "realsense"
    device: str = "0"  # opencv: an index, a /dev/video* path or a video file
    serial_no: str = ""  # realsense: which camera; empty: the first one found
    width: int = 640
    height: int = 480
    fps: float = 30.0
    depth: bool = False  # realsense: also deliver depth aligned to colour
    loop: bool = True  # video files: start again at the end instead of stopping
