"""Intel RealSense cameras through pyrealsense2 (optional: a clear error when it is not installed).

Colour comes as rgb8; with `depth`, depth (z16, millimetres on D400 cameras) is aligned to the colour image,
like realsense2_camera's `aligned_depth_to_color` stream. Frames whose timestamp is on the host clock
(global/system time domains) keep the camera's stamp; others are stamped when they reach the host.
"""

from __future__ import annotations

import time

import numpy as np

from lerobot_drivers.cameras.frame import CameraConfig, CameraError, CameraUnavailableError, Frame, Intrinsics

_TIMEOUT_MS = 2000


def _import_realsense():
    try:
        import pyrealsense2
    except ImportError as err:
        raise CameraUnavailableError(
            "the realsense backend needs pyrealsense2: pip install pyrealsense2 (x86_64 and arm64 wheels), "
            "or run realsense2_camera instead; UVC webcams work with backend:=opencv"
        ) from err
    return pyrealsense2


class RealSenseCamera:
    def __init__(self, config: CameraConfig):
        self.config = config
        self.intrinsics = Intrinsics(config.width, config.height)
        self._rs = None
        self._pipeline = None
        self._align = None

    def open(self) -> None:
        rs = _import_realsense()
        pipeline, settings = rs.pipeline(), rs.config()
        if self.config.serial_no:
            settings.enable_device(self.config.serial_no)
        width, height, fps = self.config.width, self.config.height, int(self.config.fps)
        settings.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
        if self.config.depth:
            settings.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        try:
            profile = pipeline.start(settings)
        except RuntimeError as err:
            which = f"serial {self.config.serial_no}" if self.config.serial_no else "any RealSense camera"
            raise CameraError(f"could not start {which} at {width}x{height}@{fps}: {err}") from err
        stream = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        self.intrinsics = Intrinsics(
            width=stream.width,
            height=stream.height,
            fx=stream.fx,
            fy=stream.fy,
            cx=stream.ppx,
            cy=stream.ppy,
            distortion_model="plumb_bob",  # librealsense's Brown-Conrady is ROS's plumb_bob
            distortion=tuple(stream.coeffs),
        )
        self._rs, self._pipeline = rs, pipeline
        self._align = rs.align(rs.stream.color) if self.config.depth else None

    def read(self) -> Frame:
        if self._pipeline is None:
            raise CameraError("camera is not open: call open() first")
        try:
            frames = self._pipeline.wait_for_frames(_TIMEOUT_MS)
        except RuntimeError as err:
            raise CameraError(
                f"no frame from the RealSense camera within {_TIMEOUT_MS} ms (unplugged?)"
            ) from err
        arrived_ns = time.time_ns()
        if self._align is not None:
            frames = self._align.process(frames)
        color = frames.get_color_frame()
        domain = color.get_frame_timestamp_domain()
        host_clock = domain in (self._rs.timestamp_domain.global_time, self._rs.timestamp_domain.system_time)
        stamp_ns = int(color.get_timestamp() * 1e6) if host_clock else arrived_ns
        depth = np.asanyarray(frames.get_depth_frame().get_data()).copy() if self._align is not None else None
        return Frame(color=np.asanyarray(color.get_data()).copy(), stamp_ns=stamp_ns, depth=depth)

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None
