"""`ros2 run lerobot_drivers camera`: an OpenCV (V4L2, video file) or RealSense camera as ROS image topics.

Topic names follow realsense2_camera, so either node can feed the same consumers: run in namespace
`camera` (the default) as node `camera`, it publishes `/camera/camera/color/image_raw` (rgb8) and
`.../color/camera_info`, and with `align_depth.enable` (RealSense) `.../aligned_depth_to_color/image_raw`
(16UC1, mm) and its camera_info. Stamps are capture times. QoS: SensorData (best effort, shallow), as camera
drivers use.
A capture thread publishes as frames arrive; a camera that fails is reopened once per second.
"""

from __future__ import annotations

import sys
import threading

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.run import run_node
from lerobot_drivers.cameras import BACKENDS, CameraConfig, CameraError, Frame, make_camera
from lerobot_drivers.ros.conversions import camera_info_msg, image_msg, stamp_from_ns

REOPEN_PERIOD_S = 1.0

PARAMETERS = {
    "backend": ("opencv", f"camera library: one of {sorted(BACKENDS)}"),
    "device": ("0", "opencv: camera index, /dev/video* path or video file"),
    "serial_no": ("", "realsense: serial number of the camera; empty: the first one"),
    "width": (640, "image width, pixels"),
    "height": (480, "image height, pixels"),
    "fps": (30.0, "frame rate, Hz"),
    "align_depth.enable": (
        False,
        "realsense: also publish depth aligned to colour (aligned_depth_to_color/)",
    ),
    "camera_name": ("camera", "frame ids are <camera_name>_color_optical_frame"),
    "loop": (True, "video files: start again at the end"),
}


class CameraNode(Node):
    def __init__(self, **node_options):
        node_options.setdefault("namespace", "camera")
        super().__init__("camera", **node_options)
        p = declare_parameters(self, PARAMETERS)
        self.config = CameraConfig(
            backend=p["backend"],
            device=str(p["device"]),
            serial_no=p["serial_no"],
            width=p["width"],
            height=p["height"],
            fps=p["fps"],
            depth=p["align_depth.enable"],
            loop=p["loop"],
        )
        self.camera = make_camera(self.config)
        self.camera.open()
        self._frame_id = f"{p['camera_name']}_color_optical_frame"
        self._color_pub = self.create_publisher(Image, "~/color/image_raw", qos_profile_sensor_data)
        self._color_info_pub = self.create_publisher(
            CameraInfo, "~/color/camera_info", qos_profile_sensor_data
        )
        if self.config.depth:
            self._depth_pub = self.create_publisher(
                Image, "~/aligned_depth_to_color/image_raw", qos_profile_sensor_data
            )
            self._depth_info_pub = self.create_publisher(
                CameraInfo, "~/aligned_depth_to_color/camera_info", qos_profile_sensor_data
            )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._capture, name="camera-capture", daemon=True)
        self._thread.start()
        size = f"{self.camera.intrinsics.width}x{self.camera.intrinsics.height}"
        self.get_logger().info(
            f"{self.config.backend} camera {self.config.device or self.config.serial_no}: {size}"
        )

    def _capture(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.camera.read()
            except CameraError as err:
                self.get_logger().error(
                    f"{err}; reopening in {REOPEN_PERIOD_S:.0f} s", throttle_duration_sec=10.0
                )
                self._reopen()
                continue
            self._publish(frame)

    def _publish(self, frame: Frame) -> None:
        stamp = stamp_from_ns(frame.stamp_ns)
        intrinsics = self.camera.intrinsics
        info = camera_info_msg(
            intrinsics.width,
            intrinsics.height,
            intrinsics.matrix(),
            stamp,
            self._frame_id,
            intrinsics.distortion,
            intrinsics.distortion_model,
        )
        self._color_pub.publish(image_msg(frame.color, stamp, self._frame_id, "rgb8"))
        self._color_info_pub.publish(info)
        if self.config.depth and frame.depth is not None:
            # Aligned depth shares the colour camera's geometry and frame, as in realsense2_camera.
            self._depth_pub.publish(image_msg(frame.depth, stamp, self._frame_id, "16UC1"))
            self._depth_info_pub.publish(info)

    def _reopen(self) -> None:
        self.camera.close()
        while not self._stop.wait(REOPEN_PERIOD_S):
            try:
                self.camera.open()
                return
            except CameraError as err:
                self.get_logger().warning(str(err), throttle_duration_sec=10.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.camera.close()


def main(args: list[str] | None = None) -> int:
    errors = (CameraError, ValueError)
    return run_node(
        "lerobot_drivers camera",
        CameraNode,
        errors,
        args,
        close=CameraNode.close,
        description=__doc__.split("\n\n")[0],
        parameters=PARAMETERS,
    )


if __name__ == "__main__":
    sys.exit(main())
