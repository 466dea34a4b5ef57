import textwrap
from pathlib import Path

import pytest

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
MAPPING = textwrap.dedent(
    f"""
    name: fake_robot
    robot_type: so101
    fps: 30
    task: Pick up the cube.
    features:
      observation.state: {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
      action: {{topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS}}}
      observation.images.front: {{topic: /front/image_raw, type: sensor_msgs/msg/Image}}
      observation.images.wrist: {{topic: /wrist/image_raw, type: sensor_msgs/msg/Image}}
    record_also: [/recorder/status]
    """
)


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "fake_robot.yaml"
    path.write_text(MAPPING)
    return path


@pytest.fixture
def fake_robot(start_fake_robot):
    """The shared fake robot (test/fake_robot.py) with 320×240 cameras."""
    return start_fake_robot(320, 240)


FPS = 30
NS = 1_000_000_000


def frame_value(k: int) -> int:
    """Grey level of camera frame k: steps of 8 survive lossy video coding and identify the frame."""
    return (k * 8) % 248 + 4


@pytest.fixture
def make_bag():
    """make_bag(path, storage="mcap", seconds=2.0, camera_start=0.0, camera_gap=None, shuffle=False,
    command_delay=0.002, camera_rate=FPS) writes a synthetic episode bag: /joint_states at 100 Hz whose first
    position is the stamp in seconds, /arm/commands at 30 Hz (no header: stamped by receive time, which is
    ``command_delay`` s after its frame time) carrying the frame number, and /front, /wrist cameras at 30 Hz
    (64×48) filled with frame_value(k) (/front only every FPS/``camera_rate``-th frame). Stamps start at
    100 s; other receive times are stamps + 2 ms (joints), + 3 ms (images)."""
    import numpy as np
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import StoragePlugin
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.LATEST)
    t = store.types
    Time, Header = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]

    def header(ns: int):
        return Header(stamp=Time(sec=ns // NS, nanosec=ns % NS), frame_id="")

    def make(
        path: Path, storage="mcap", seconds=2.0, camera_start=0.0, camera_gap=None, shuffle=False,
        command_delay=0.002, camera_rate=FPS,
    ):  # fmt: skip
        plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
        base = 100 * NS
        messages = []  # (receive ns, topic, msgtype, message)
        for i in range(int(seconds * 100)):
            stamp = base + i * NS // 100
            msg = t["sensor_msgs/msg/JointState"](
                header=header(stamp), name=JOINTS, position=np.array([stamp / NS] + [0.0] * 5),
                velocity=np.zeros(0), effort=np.zeros(0),
            )  # fmt: skip
            messages.append((stamp + 2_000_000, "/joint_states", "sensor_msgs/msg/JointState", msg))
        for k in range(int(seconds * FPS)):
            stamp = base + k * NS // FPS
            command = t["std_msgs/msg/Float64MultiArray"](
                layout=t["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
                data=np.array([float(k)] + [0.0] * 5),
            )
            received = stamp + round(command_delay * NS)
            messages.append((received, "/arm/commands", "std_msgs/msg/Float64MultiArray", command))
            for camera in ("front", "wrist"):
                in_gap = (
                    camera_gap is not None
                    and camera == "front"
                    and camera_gap[0] <= k * 1 / FPS < camera_gap[1]
                )
                slow = camera == "front" and k % round(FPS / camera_rate)
                if (camera == "wrist" and k / FPS < camera_start) or in_gap or slow:
                    continue
                pixels = np.full((48, 64, 3), frame_value(k), np.uint8)
                image = t["sensor_msgs/msg/Image"](
                    header=header(stamp), height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3,
                    data=pixels.reshape(-1),
                )  # fmt: skip
                messages.append((stamp + 3_000_000, f"/{camera}/image_raw", "sensor_msgs/msg/Image", image))
        messages.sort(key=lambda m: m[0])
        if shuffle:  # joint states arrive in swapped pairs: their stamps go backwards every other message
            joints = [i for i, m in enumerate(messages) if m[1] == "/joint_states"]
            for a, b in zip(joints[0::2], joints[1::2], strict=False):
                messages[a], messages[b] = (
                    (messages[a][0], *messages[b][1:]),
                    (messages[b][0], *messages[a][1:]),
                )
        writer = Writer(path, version=8, storage_plugin=plugin)
        writer.set_custom_data("lerobot.mapping", MAPPING)
        writer.set_custom_data("lerobot.task", "stack the cubes")
        with writer:
            connections = {}
            for receive, topic, msgtype, msg in messages:
                if topic not in connections:
                    connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
                writer.write(connections[topic], receive, store.serialize_cdr(msg, msgtype))
        return path

    make.fps = FPS
    make.frame_value = frame_value
    return make
