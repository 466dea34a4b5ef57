"""Messages ↔ numpy on rosbags' types (the converter's kind of message; rclpy's have the same fields)."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from rosbags.typesys import Stores, get_typestore

from lerobot_common.conversions import (
    MessageError,
    image_array,
    image_fields,
    joint_positions_by_name,
    joint_positions_in_order,
    joint_values,
    stamp_ns,
)

T = get_typestore(Stores.LATEST).types
Time, Header = T["builtin_interfaces/msg/Time"], T["std_msgs/msg/Header"]


def image(pixels: np.ndarray, encoding: str, padding: int = 0, bigendian: bool = False):
    height, width = pixels.shape[:2]
    rows = (
        pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).reshape(height, -1).view(np.uint8)
    )
    step = rows.shape[1] + padding
    data = np.zeros((height, step), np.uint8)
    data[:, : rows.shape[1]] = rows
    return T["sensor_msgs/msg/Image"](
        header=Header(stamp=Time(sec=1, nanosec=5), frame_id="cam"), height=height, width=width,
        encoding=encoding, is_bigendian=int(bigendian), step=step, data=data.reshape(-1),
    )  # fmt: skip


RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)


@pytest.mark.parametrize("padding", [0, 3])
def test_rgb8_with_row_padding(padding):
    assert (image_array(image(RGB, "rgb8", padding), "sensor_msgs/msg/Image") == RGB).all()


def test_bgr8_and_bgra8_become_rgb():
    assert (image_array(image(RGB[..., ::-1], "bgr8"), "sensor_msgs/msg/Image") == RGB).all()
    bgra = np.concatenate([RGB[..., ::-1], np.full((4, 5, 1), 255, np.uint8)], axis=2)
    assert (image_array(image(bgra, "bgra8"), "sensor_msgs/msg/Image") == RGB).all()


def test_mono8_to_grey_rgb_and_depth_keeps_one_channel():
    grey = RGB[..., :1]
    assert (image_array(image(grey, "mono8"), "sensor_msgs/msg/Image") == np.repeat(grey, 3, axis=2)).all()
    depth = (np.arange(20, dtype=np.uint16) * 1000).reshape(4, 5, 1)
    for bigendian in (False, True):
        decoded = image_array(image(depth, "16UC1", bigendian=bigendian), "sensor_msgs/msg/Image")
        assert decoded.dtype == np.uint16 and decoded.shape == (4, 5, 1) and (decoded == depth).all()


def test_compressed_png_and_bad_bytes():
    buffer = io.BytesIO()
    PILImage.fromarray(RGB).save(buffer, format="PNG")
    msg = T["sensor_msgs/msg/CompressedImage"](
        header=Header(stamp=Time(sec=0, nanosec=0), frame_id=""), format="png",
        data=np.frombuffer(buffer.getvalue(), np.uint8),
    )  # fmt: skip
    assert (image_array(msg, "sensor_msgs/msg/CompressedImage") == RGB).all()
    msg.data = np.zeros(10, np.uint8)
    with pytest.raises(MessageError, match="cannot decode CompressedImage"):
        image_array(msg, "sensor_msgs/msg/CompressedImage")


def test_image_errors_say_what_is_wrong():
    with pytest.raises(MessageError, match="encoding 'yuv422' is not supported"):
        image_array(image(RGB, "yuv422"), "sensor_msgs/msg/Image")
    short = image(RGB, "rgb8")
    short.data = short.data[:10]
    with pytest.raises(MessageError, match="do not fit"):
        image_array(short, "sensor_msgs/msg/Image")


def test_joint_values_in_the_mapping_order():
    joints = ["b", "a"]
    state = T["sensor_msgs/msg/JointState"](
        header=Header(stamp=Time(sec=2, nanosec=1), frame_id=""), name=["a", "b", "c"],
        position=np.array([1.0, 2.0, 3.0]), velocity=np.zeros(0), effort=np.zeros(0),
    )  # fmt: skip
    assert joint_values(state, "sensor_msgs/msg/JointState", joints).tolist() == [2.0, 1.0]
    assert stamp_ns(state) == 2_000_000_001
    with pytest.raises(MessageError, match=r"no joint\(s\) \['d'\]"):
        joint_values(state, "sensor_msgs/msg/JointState", ["a", "d"])
    array = T["std_msgs/msg/Float64MultiArray"](
        layout=T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0), data=np.array([5.0, 6.0])
    )
    assert joint_values(array, "std_msgs/msg/Float64MultiArray", joints).tolist() == [5.0, 6.0]
    assert stamp_ns(array) is None
    with pytest.raises(MessageError, match="carries 2 values, the mapping names 3 joints"):
        joint_values(array, "std_msgs/msg/Float64MultiArray", ["a", "b", "c"])
    point = T["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.array([7.0, 8.0]), velocities=np.zeros(0), accelerations=np.zeros(0), effort=np.zeros(0),
        time_from_start=T["builtin_interfaces/msg/Duration"](sec=0, nanosec=0),
    )  # fmt: skip
    trajectory = T["trajectory_msgs/msg/JointTrajectory"](
        header=Header(stamp=Time(sec=0, nanosec=0), frame_id=""), joint_names=["a", "b"], points=[point]
    )
    assert joint_values(trajectory, "trajectory_msgs/msg/JointTrajectory", joints).tolist() == [8.0, 7.0]
    assert stamp_ns(trajectory) is None  # a zero stamp means "not stamped"


def test_joint_commands_by_name_and_in_order():
    state = T["sensor_msgs/msg/JointState"](
        header=Header(stamp=Time(sec=0, nanosec=0), frame_id=""), name=["b"],
        position=np.array([0.3]), velocity=np.zeros(0), effort=np.zeros(0),
    )  # fmt: skip
    assert joint_positions_by_name(state) == {"b": 0.3}
    state.name = ["a", "b"]
    with pytest.raises(MessageError, match="names 2 joints but carries 1"):
        joint_positions_by_name(state)
    array = T["std_msgs/msg/Float64MultiArray"](
        layout=T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0), data=np.array([1.0, 2.0])
    )
    assert joint_positions_in_order(array, ["a", "b"]) == {"a": 1.0, "b": 2.0}
    with pytest.raises(MessageError, match="2 values for 3 joints"):
        joint_positions_in_order(array, ["a", "b", "c"])


def test_image_fields_read_back_as_the_dataset_stores_them():
    """Arrays → Image fields → height × width × channels: colour stays RGB, depth keeps one channel."""
    header = Header(stamp=Time(sec=0, nanosec=0), frame_id="")
    fields = image_fields(RGB)
    assert (fields["encoding"], fields["height"], fields["width"], fields["step"]) == ("rgb8", 4, 5, 15)
    msg = T["sensor_msgs/msg/Image"](
        header=header, **{**fields, "data": np.frombuffer(fields["data"], np.uint8)}
    )
    assert (image_array(msg, "sensor_msgs/msg/Image") == RGB).all()
    depth = (np.arange(20, dtype=np.uint16) * 1000).reshape(4, 5)
    fields = image_fields(depth)
    assert fields["encoding"] == "16UC1" and fields["step"] == 10
    msg = T["sensor_msgs/msg/Image"](
        header=header, **{**fields, "data": np.frombuffer(fields["data"], np.uint8)}
    )
    assert (image_array(msg, "sensor_msgs/msg/Image") == depth[..., None]).all()


def test_image_fields_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="rgb8 needs 3 channel"):
        image_fields(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ValueError, match="unsupported image encoding"):
        image_fields(np.zeros((2, 2), np.uint8), "yuv422")
    with pytest.raises(ValueError, match="no image encoding for 2 channel"):
        image_fields(np.zeros((2, 2, 2), np.uint8))
