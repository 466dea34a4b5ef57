"""Cameras: OpenCV (V4L2 devices, video files) and Intel RealSense, delivering stamped RGB frames."""

from __future__ import annotations

from lerobot_drivers.cameras.frame import CameraConfig, CameraError, CameraUnavailableError, Frame, Intrinsics
from lerobot_drivers.cameras.opencv_camera import OpenCVCamera
from lerobot_drivers.cameras.realsense_camera import RealSenseCamera

BACKENDS = {"opencv": OpenCVCamera, "realsense": RealSenseCamera}


def make_camera(config: CameraConfig) -> OpenCVCamera | RealSenseCamera:
    if config.backend not in BACKENDS:
        raise ValueError(f"unknown camera backend {config.backend!r}: use one of {sorted(BACKENDS)}")
    return BACKENDS[config.backend](config)


__all__ = [
    "BACKENDS",
    "CameraConfig",
    "CameraError",
    "CameraUnavailableError",
    "Frame",
    "Intrinsics",
    "OpenCVCamera",
    "RealSenseCamera",
    "make_camera",
]
