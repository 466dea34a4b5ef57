"""lerobot_msgs over real DDS: a publisher in another process, a subscriber here, compared field for field."""

import subprocess
import sys
import textwrap

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the workspace venv (make setup)")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from lerobot_msgs.msg import ActionChunk, RecorderStatus  # noqa: E402

# Built in the publishing process from the same literals; the test checks every field arrives unchanged.
CHUNK_FIELDS = dict(
    sequence=7,
    joint_names=["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"],
    control_period=1.0 / 30.0,
    horizon=3,
    positions=[0.01 * i - 0.05 for i in range(18)],
    velocities=[-0.5 + 0.03 * i for i in range(18)],
    policy_type="act",
    checkpoint="outputs/train/act_so101/checkpoints/last/pretrained_model@20000",
    inference_time=0.0421,
)
CHUNK_STAMPS = dict(header=(12, 345, "base_link"), observation_stamp=(12, 300))

PUBLISHER = textwrap.dedent(
    """
    import ast, sys, time
    import rclpy
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header
    from lerobot_msgs.msg import ActionChunk, RecorderStatus, TopicStatistics

    fields, stamps = ast.literal_eval(sys.argv[1]), ast.literal_eval(sys.argv[2])
    (sec, nsec, frame), (osec, onsec) = stamps["header"], stamps["observation_stamp"]
    chunk = ActionChunk(header=Header(stamp=Time(sec=sec, nanosec=nsec), frame_id=frame),
                        observation_stamp=Time(sec=osec, nanosec=onsec), **fields)
    status = RecorderStatus(state=RecorderStatus.RECORDING, profile="so101_sim", episode_index=3,
                            task="pick the cube", bag_path="/tmp/bags/episode_000003", elapsed=4.5,
                            episodes_saved=3, message="recording",
                            topics=[TopicStatistics(topic="/joint_states", received=450, dropped=1,
                                                    rate=100.0, age=0.004)])
    rclpy.init()
    node = rclpy.create_node("lerobot_msgs_test_publisher")
    chunks = node.create_publisher(ActionChunk, "test_action_chunk", 10)
    statuses = node.create_publisher(RecorderStatus, "test_recorder_status", 10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        chunks.publish(chunk)
        statuses.publish(status)
        rclpy.spin_once(node, timeout_sec=0.05)
    """
)


@pytest.fixture
def publisher_process():
    process = subprocess.Popen([sys.executable, "-c", PUBLISHER, repr(CHUNK_FIELDS), repr(CHUNK_STAMPS)])
    yield process
    process.kill()
    process.wait()


def test_action_chunk_and_status_cross_processes_field_for_field(ros_context, spin_until, publisher_process):
    node = rclpy.create_node("lerobot_msgs_test_subscriber", context=ros_context)
    chunks: list[ActionChunk] = []
    statuses: list[RecorderStatus] = []
    node.create_subscription(ActionChunk, "test_action_chunk", chunks.append, 10)
    node.create_subscription(RecorderStatus, "test_recorder_status", statuses.append, 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)

    assert spin_until(executor, lambda: chunks and statuses, timeout=30), "nothing arrived over DDS in 30 s"
    assert publisher_process.poll() is None, "the publishing process died"

    chunk = chunks[0]
    for name, value in CHUNK_FIELDS.items():
        received = getattr(chunk, name)
        assert (list(received) if isinstance(value, list) else received) == value, name
    assert (chunk.header.stamp.sec, chunk.header.stamp.nanosec, chunk.header.frame_id) == (
        12,
        345,
        "base_link",
    )
    assert (chunk.observation_stamp.sec, chunk.observation_stamp.nanosec) == (12, 300)
    assert len(chunk.positions) == chunk.horizon * len(chunk.joint_names)

    status = statuses[0]
    assert status.state == RecorderStatus.RECORDING == 1
    assert (status.profile, status.episode_index, status.task) == ("so101_sim", 3, "pick the cube")
    assert (status.elapsed, status.episodes_saved, status.bag_path) == (4.5, 3, "/tmp/bags/episode_000003")
    [topic] = status.topics
    assert (topic.topic, topic.received, topic.dropped, topic.rate, topic.age) == (
        "/joint_states",
        450,
        1,
        100.0,
        0.004,
    )
    executor.shutdown()
    node.destroy_node()


def test_service_definitions_have_the_documented_fields():
    from lerobot_msgs.srv import DiscardEpisode, StartEpisode, StopEpisode

    assert set(StartEpisode.Request.get_fields_and_field_types()) == {"task"}
    assert set(StartEpisode.Response.get_fields_and_field_types()) == {
        "success",
        "message",
        "episode_index",
        "bag_path",
    }
    assert StopEpisode.Request.get_fields_and_field_types() == {}
    assert set(StopEpisode.Response.get_fields_and_field_types()) == {
        "success",
        "message",
        "episode_index",
        "bag_path",
        "duration",
        "message_count",
        "dropped",
    }
    assert set(DiscardEpisode.Response.get_fields_and_field_types()) == {
        "success",
        "message",
        "episode_index",
    }
