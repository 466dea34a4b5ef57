"""Cameras on a synthetic source: a video file written with PyAV, read through the OpenCV backend and
published by the camera node over real DDS with capture stamps. RealSense paths needing hardware skip."""

import importlib.util
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from lerobot_drivers.cameras import CameraConfig, CameraError, CameraUnavailableError, make_camera

pytestmark = pytest.mark.timeout(90)
WIDTH, HEIGHT, FPS = 160, 120, 30
HAS_REALSENSE = importlib.util.find_spec("pyrealsense2") is not None


@pytest.fixture(scope="module")
def video_file(tmp_path_factory) -> str:
    """Two seconds of 160×120 video at 30 fps: the left half red, the right half blue (RGB)."""
    path = tmp_path_factory.mktemp("video") / "red_blue.mp4"
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, : WIDTH // 2, 0] = 220
    image[:, WIDTH // 2 :, 2] = 220
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for _ in range(2 * FPS):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def assert_red_left_blue_right(rgb: np.ndarray) -> None:
    left, right = rgb[:, : WIDTH // 2 - 8].mean(axis=(0, 1)), rgb[:, WIDTH // 2 + 8 :].mean(axis=(0, 1))
    assert left == pytest.approx([220, 0, 0], abs=25) and right == pytest.approx([0, 0, 220], abs=25)


def test_opencv_camera_reads_a_video_file_as_rgb_at_its_rate(video_file):
    camera = make_camera(CameraConfig(device=video_file, width=WIDTH, height=HEIGHT, fps=FPS))
    camera.open()
    try:
        before = time.time_ns()
        frames = [camera.read() for _ in range(12)]
        after = time.time_ns()
    finally:
        camera.close()
    assert frames[0].color.shape == (HEIGHT, WIDTH, 3) and frames[0].color.dtype == np.uint8
    assert_red_left_blue_right(frames[0].color)
    stamps = [frame.stamp_ns for frame in frames]
    assert before <= stamps[0] and stamps[-1] <= after and all(np.diff(stamps) > 0)
    assert (stamps[-1] - stamps[0]) / 11 == pytest.approx(1e9 / FPS, rel=0.25)  # paced like a live camera
    assert camera.intrinsics.width == WIDTH and camera.intrinsics.matrix() is None


def test_opencv_camera_that_cannot_open_says_so(tmp_path):
    camera = make_camera(CameraConfig(device=str(tmp_path / "missing.mp4")))
    with pytest.raises(CameraError, match="could not open camera"):
        camera.open()


@pytest.mark.skipif(
    HAS_REALSENSE, reason="pyrealsense2 is installed: the missing-library error cannot happen"
)
def test_realsense_without_pyrealsense2_explains_how_to_get_it():
    with pytest.raises(CameraUnavailableError, match="pip install pyrealsense2"):
        make_camera(CameraConfig(backend="realsense")).open()


def test_realsense_colour_and_aligned_depth():
    if not HAS_REALSENSE:
        pytest.skip("needs pyrealsense2 and a RealSense camera: pyrealsense2 is not installed")
    import pyrealsense2 as rs

    if len(rs.context().query_devices()) == 0:
        pytest.skip("needs a RealSense camera: none is connected")
    camera = make_camera(CameraConfig(backend="realsense", width=640, height=480, fps=30, depth=True))
    camera.open()
    try:
        frame = camera.read()
    finally:
        camera.close()
    assert frame.color.shape == (480, 640, 3) and frame.depth.shape == (480, 640)
    assert abs(frame.stamp_ns - time.time_ns()) < 1e9 and camera.intrinsics.matrix() is not None


@pytest.mark.ros
def test_camera_node_publishes_stamped_rgb_images_on_realsense_topics(video_file):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from lerobot_common.conversions import image_array, stamp_ns

    parameters = {"device": video_file, "width": WIDTH, "height": HEIGHT, "fps": float(FPS)}
    command = [sys.executable, "-m", "lerobot_drivers.ros.camera_node", "--ros-args"]
    for name, value in parameters.items():
        command += ["-p", f"{name}:={value}"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ
    )
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("camera_test_client", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    images, infos, received_ns = [], [], []

    def on_image(msg: Image) -> None:
        images.append(msg)
        received_ns.append(time.time_ns())

    node.create_subscription(Image, "/camera/camera/color/image_raw", on_image, qos_profile_sensor_data)
    node.create_subscription(
        CameraInfo, "/camera/camera/color/camera_info", infos.append, qos_profile_sensor_data
    )
    try:
        deadline = time.monotonic() + 30
        while len(images) < 15 and time.monotonic() < deadline and process.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        assert len(images) >= 15, process.stdout.read() if process.poll() is not None else "no images"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
        executor.shutdown(timeout_sec=1)
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert process.returncode == 0, output

    last = images[-1]
    assert (last.encoding, last.width, last.height, last.step) == ("rgb8", WIDTH, HEIGHT, WIDTH * 3)
    assert last.header.frame_id == "camera_color_optical_frame"
    assert_red_left_blue_right(image_array(last, "sensor_msgs/msg/Image"))
    stamps = [stamp_ns(image) for image in images]
    assert all(np.diff(stamps) > 0)
    # Stamped at capture: before the message arrived, and not long before (no stale or zero stamps).
    assert all(0 < received - stamp < 0.5e9 for stamp, received in zip(stamps, received_ns, strict=True))
    # A file is paced at the requested fps, never faster (how much slower depends on the machine's load).
    assert np.mean(np.diff(stamps)) > 0.75e9 / FPS
    info_stamps = {stamp_ns(info) for info in infos}
    assert info_stamps & set(stamps)  # camera_info carries its image's stamp
    assert infos[-1].width == WIDTH and infos[-1].header.frame_id == last.header.frame_id
