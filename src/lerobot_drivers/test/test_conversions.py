"""The messages ros/conversions.py builds (no cv_bridge): stamps, images read back by lerobot_common, padded
and big-endian images from other publishers, camera info and joint states."""

import numpy as np
import pytest
from sensor_msgs.msg import Image

from lerobot_common.conversions import image_array, stamp_ns
from lerobot_drivers.ros.conversions import (
    camera_info_msg,
    image_msg,
    joint_state_msg,
    stamp_from_ns,
    stamp_from_seconds,
)

IMAGE = "sensor_msgs/msg/Image"

pytestmark = [pytest.mark.ros, pytest.mark.timeout(30)]


def test_stamps():
    msg = joint_state_msg([], [], stamp=stamp_from_ns(1_700_000_000_123_456_789))
    assert stamp_ns(msg) == 1_700_000_000_123_456_789
    stamp = stamp_from_seconds(12.25)
    assert (stamp.sec, stamp.nanosec) == (12, 250_000_000)


def test_rgb_and_depth_images_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    msg = image_msg(rgb, stamp_from_ns(5), "cam")
    assert (msg.encoding, msg.height, msg.width, msg.step, msg.header.frame_id) == ("rgb8", 4, 5, 15, "cam")
    np.testing.assert_array_equal(image_array(msg, IMAGE), rgb)
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    depth_msg = image_msg(depth, stamp_from_ns(5), "cam")
    assert depth_msg.encoding == "16UC1" and depth_msg.step == 8
    np.testing.assert_array_equal(image_array(depth_msg, IMAGE), depth[..., None])


def test_padded_rows_and_big_endian_data_are_read_correctly():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)  # 9 bytes of pixels + 3 of padding per row
    padded[:, :9] = rgb.reshape(2, 9)
    msg = Image(height=2, width=3, encoding="rgb8", step=12, data=padded.tobytes())
    np.testing.assert_array_equal(image_array(msg, IMAGE), rgb)
    depth = np.array([[1, 258], [65535, 4]], dtype=np.uint16)
    big = Image(
        height=2, width=2, encoding="16UC1", is_bigendian=1, step=4, data=depth.astype(">u2").tobytes()
    )
    np.testing.assert_array_equal(image_array(big, IMAGE), depth[..., None])


def test_image_encoding_must_fit_the_array():
    with pytest.raises(ValueError, match="rgb8 needs 3 channel"):
        image_msg(np.zeros((2, 2), np.uint8), stamp_from_ns(0), "", "rgb8")
    with pytest.raises(ValueError, match="unsupported image encoding"):
        image_msg(np.zeros((2, 2), np.uint8), stamp_from_ns(0), "", "yuv422")


def test_camera_info_with_and_without_intrinsics():
    k = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    info = camera_info_msg(640, 480, k, stamp_from_ns(7), "cam", (0.1, 0.0, 0.0, 0.0, 0.0))
    assert list(info.k) == [500, 0, 320, 0, 510, 240, 0, 0, 1]
    assert list(info.p) == [500, 0, 320, 0, 0, 510, 240, 0, 0, 0, 1, 0]
    assert list(info.d) == [0.1, 0, 0, 0, 0] and info.header.stamp.nanosec == 7
    unknown = camera_info_msg(640, 480, None, stamp_from_ns(7), "cam")
    assert not any(unknown.k) and unknown.width == 640


def test_joint_states():
    msg = joint_state_msg(["a", "b"], [0.5, -1.0], [0.1, 0.2], stamp=stamp_from_ns(3))
    assert list(msg.name) == ["a", "b"] and list(msg.position) == [0.5, -1.0] and list(msg.effort) == []
