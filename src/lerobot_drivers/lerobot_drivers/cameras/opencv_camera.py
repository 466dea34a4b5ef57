"""UVC/V4L2 cameras and video files through OpenCV (opencv-python-headless).

Frames are stamped with the system time right after `grab()` returns, the closest to the exposure OpenCV
offers for every device. Video files play at their own frame rate (or `fps`), which makes them a stand-in
for a live camera in tests and demos.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import cv2

from lerobot_drivers.cameras.frame import CameraConfig, CameraError, Frame, Intrinsics

logger = logging.getLogger(__name__)


class OpenCVCamera:
    def __init__(self, config: CameraConfig):
        self.config = config
        self._capture: cv2.VideoCapture | None = None
        self._is_file = False
        self._period = 1.0 / config.fps if config.fps > 0 else 0.0
        self._next_frame_at = 0.0
        self.intrinsics = Intrinsics(config.width, config.height)

    def open(self) -> None:
        device = self.config.device
        self._is_file = Path(device).is_file() and not device.startswith("/dev/")
        if device.isdigit():
            source, api = int(device), cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        else:
            source, api = device, cv2.CAP_ANY
        capture = cv2.VideoCapture(source, api)
        if not capture.isOpened():
            raise CameraError(
                f"could not open camera {device!r}: check the index or path (`lerobot-ros-discover` lists "
                "cameras) and that no other program uses it"
            )
        if self._is_file:
            file_fps = capture.get(cv2.CAP_PROP_FPS)
            if file_fps > 0 and self.config.fps <= 0:
                self._period = 1.0 / file_fps
        else:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
            capture.set(cv2.CAP_PROP_FPS, self.config.fps)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if (width, height) != (self.config.width, self.config.height):
            logger.warning("%s gives %dx%d frames (asked %dx%d)", device, width, height, self.config.width,
                           self.config.height)  # fmt: skip
        self.intrinsics = Intrinsics(width, height)
        self._capture = capture
        self._next_frame_at = time.monotonic()

    def read(self) -> Frame:
        """The next frame; blocks until the camera delivers one (files: until its time comes)."""
        if self._capture is None:
            raise CameraError("camera is not open: call open() first")
        if self._is_file:
            delay = self._next_frame_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_frame_at = max(self._next_frame_at + self._period, time.monotonic() - self._period)
        if not self._capture.grab():
            if not (self._is_file and self.config.loop):
                raise CameraError(f"camera {self.config.device!r} stopped delivering frames (unplugged?)")
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            if not self._capture.grab():
                raise CameraError(f"video file {self.config.device!r} has no frames")
        stamp_ns = time.time_ns()
        ok, bgr = self._capture.retrieve()
        if not ok:
            raise CameraError(f"camera {self.config.device!r} returned an empty frame")
        return Frame(color=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), stamp_ns=stamp_ns)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
