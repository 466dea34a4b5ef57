"""The record node over real DDS: fake robot process → recorder → rosbag2 folders that rosbags reads back."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy", reason="needs the workspace venv (make setup)")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402

from lerobot_common.conversions import stamp_ns  # noqa: E402
from lerobot_dataset import DatasetReader  # noqa: E402
from lerobot_msgs.msg import RecorderStatus  # noqa: E402
from lerobot_msgs.srv import DiscardEpisode, StartEpisode, StopEpisode  # noqa: E402
from lerobot_recorder.convert import convert_bags  # noqa: E402
from lerobot_recorder.ros.record_node import RecordNode  # noqa: E402

TOPICS = ["/joint_states", "/arm/commands", "/front/image_raw", "/wrist/image_raw"]
RECORDED = {*TOPICS, "/recorder/status"}  # the mapping's record_also adds the status topic


@pytest.fixture
def recorder(ros_context, mapping_file, tmp_path, request):
    storage = getattr(request, "param", "mcap")
    node = RecordNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("profile", value=str(mapping_file)),
            Parameter("output_dir", value=str(tmp_path / "bags")),
            Parameter("storage", value=storage),
        ],
    )
    client = rclpy.create_node("recorder_test_client", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)  # as the node's main(): keeps message order
    executor.add_node(node)
    executor.add_node(client)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node, client
    executor.shutdown()
    node.destroy_node()
    client.destroy_node()


def call(client, srv_type, name: str, request=None):
    service = client.create_client(srv_type, name)
    assert service.wait_for_service(timeout_sec=10), f"{name} not available"
    future = service.call_async(request or srv_type.Request())
    deadline = time.monotonic() + 30
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.done(), f"{name} did not answer"
    return future.result()


def wait_for_publishers(node, timeout=15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(node.count_publishers(topic) for topic in TOPICS):
            time.sleep(0.5)  # let the subscriptions match
            return
        time.sleep(0.05)
    pytest.fail("fake robot publishers not discovered")


def sequence_numbers(connection, raw: bytes, typestore) -> int:
    if connection.msgtype == "sensor_msgs/msg/Image":
        return int(np.frombuffer(typestore.deserialize_cdr(raw, connection.msgtype).data[:4], "<u4")[0])
    msg = typestore.deserialize_cdr(raw, connection.msgtype)
    return int(msg.position[0] if connection.msgtype == "sensor_msgs/msg/JointState" else msg.data[0])


@pytest.mark.parametrize("recorder", ["mcap", "sqlite3"], indirect=True)
def test_records_an_episode_of_every_mapped_topic_in_order(recorder, fake_robot, tmp_path):
    node, client = recorder
    statuses: list[RecorderStatus] = []
    client.create_subscription(RecorderStatus, "/recorder/status", statuses.append, 10)
    wait_for_publishers(node)

    started = call(
        client, StartEpisode, "/recorder/start_episode", StartEpisode.Request(task="stack the cubes")
    )
    assert started.success, started.message
    time.sleep(2.0)
    stopped = call(client, StopEpisode, "/recorder/stop_episode")
    assert stopped.success, stopped.message
    assert stopped.dropped == 0
    assert 1.8 < stopped.duration < 6.0

    recording = [s for s in statuses if s.state == RecorderStatus.RECORDING and s.topics]
    assert recording, "no RECORDING status published"
    assert {t.topic for t in recording[-1].topics} == RECORDED

    bag = Path(stopped.bag_path)
    assert bag.name == f"episode_{started.episode_index:06d}" and bag == Path(started.bag_path)
    metadata = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["storage_identifier"] == node.recorder.storage
    assert metadata["custom_data"]["lerobot.task"] == "stack the cubes"
    assert "fake_robot" in metadata["custom_data"]["lerobot.mapping"]

    with AnyReader([bag]) as reader:
        assert {c.topic for c in reader.connections} == RECORDED
        by_topic: dict[str, list[tuple[int, int]]] = {t: [] for t in TOPICS}
        for connection, timestamp, raw in reader.messages(
            [c for c in reader.connections if c.topic in TOPICS]
        ):
            by_topic[connection.topic].append(
                (timestamp, sequence_numbers(connection, raw, reader.typestore))
            )
        assert reader.message_count == stopped.message_count
    for topic in TOPICS:
        stamps, numbers = zip(*by_topic[topic], strict=True)
        assert list(stamps) == sorted(stamps), f"{topic}: receive times out of order"
        assert len(numbers) >= 20, f"{topic}: only {len(numbers)} messages in {stopped.duration:.1f} s"
        assert (np.diff(numbers) > 0).all(), f"{topic}: messages out of order"
        published = numbers[-1] - numbers[0] + 1
        if topic.endswith("image_raw"):  # best effort (sensor data QoS): DDS may lose a few under load
            assert len(numbers) >= 0.8 * published, f"{topic}: {len(numbers)} of {published} frames"
        else:  # reliable streams arrive complete
            assert len(numbers) == published, f"{topic}: {published - len(numbers)} messages missing"

    # … and the bag converts into a dataset whose frames are what was published at each frame time
    result = convert_bags([bag], tmp_path / "dataset", progress=False)
    assert not result.skipped, result.skipped
    report = result.reports[0]
    with AnyReader([bag]) as reader:
        joint_stamps = np.array([
            stamp_ns(reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages()
            if c.topic == "/joint_states"
        ])  # fmt: skip
    reader = DatasetReader(tmp_path / "dataset")
    frames = list(reader.iter_frames())
    reader.close()
    assert len(frames) == report.frames > 30
    for k, frame in enumerate(frames):
        t = report.alignment.frame_times[k]
        # header stamps equal receive times within this test's tolerance, so the oracle uses the bag order
        latest = np.flatnonzero(joint_stamps <= t).max()  # the newest joint state stamped at or before t
        assert frame["observation.state"][0] == by_topic["/joint_states"][latest][1]
        front_seq = by_topic["/front/image_raw"][
            report.streams["observation.images.front"].positions[
                report.alignment.picks["observation.images.front"][k]
            ]
        ][1]
        assert abs(float(frame["observation.images.front"].mean()) - ((front_seq * 8) % 248 + 4)) < 3
        assert frame["task"] == "stack the cubes"
    states = np.array([f["observation.state"][0] for f in frames])
    actions = np.array([f["action"][0] for f in frames])
    assert (np.diff(states) >= 0).all() and (np.diff(actions) >= 0).all()  # time only moves forward


def test_discard_deletes_the_episode_and_reuses_its_index(recorder, fake_robot):
    node, client = recorder
    wait_for_publishers(node)
    assert not call(client, StopEpisode, "/recorder/stop_episode").success  # nothing recording
    assert not call(client, DiscardEpisode, "/recorder/discard_episode").success  # nothing to discard

    first = call(client, StartEpisode, "/recorder/start_episode")
    assert first.success
    again = call(client, StartEpisode, "/recorder/start_episode")
    assert not again.success and "already" in again.message
    time.sleep(0.3)
    discarded = call(client, DiscardEpisode, "/recorder/discard_episode")
    assert discarded.success and discarded.episode_index == first.episode_index
    assert not Path(first.bag_path).exists()

    second = call(client, StartEpisode, "/recorder/start_episode")
    assert second.episode_index == first.episode_index
    time.sleep(0.3)
    assert call(client, StopEpisode, "/recorder/stop_episode").success
    assert (Path(second.bag_path) / "metadata.yaml").is_file()
    # idle: discard throws the last saved episode away (re-record)
    assert call(client, DiscardEpisode, "/recorder/discard_episode").episode_index == second.episode_index
    assert not Path(second.bag_path).exists()


def test_keyboard_mode_in_a_terminal(fake_robot, mapping_file, tmp_path):
    """The real command in a pseudo-terminal: space starts, space stops, q quits."""
    controller, terminal = os.openpty()
    command = [
        sys.executable, "-c", "import sys, lerobot_recorder.ros.record_node as n; sys.exit(n.main())",
        "--profile", str(mapping_file), "--output-dir", str(tmp_path / "bags"), "--keyboard",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    output = bytearray()

    def read_until(text: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in output and time.monotonic() < deadline:
            try:
                output.extend(os.read(controller, 65536))
            except OSError:
                break
        assert text in output, (
            f"{text!r} never shown; terminal said:\n{output.decode(errors='replace')[-2000:]}"
        )

    try:
        read_until(b"keys:", 60)
        time.sleep(2.0)  # discovery
        os.write(controller, b" ")
        read_until(b"REC episode 0", 20)
        time.sleep(1.0)
        os.write(controller, b" ")
        read_until(b"saved episode 0", 20)
        os.write(controller, b"q")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        os.close(controller)
    bag = tmp_path / "bags" / "episode_000000"
    with AnyReader([bag]) as reader:
        assert reader.message_count > 50


def test_close_saves_the_episode_in_progress_and_is_quiet_when_idle(recorder, fake_robot, monkeypatch):
    """What bringup's stop (`stop: close`) and Ctrl-C run before destroying the node."""
    node, client = recorder
    errors: list[str] = []
    monkeypatch.setattr(node.get_logger(), "error", errors.append)  # idle is no error
    node.close()  # idle: nothing to save
    wait_for_publishers(node)
    started = call(client, StartEpisode, "/recorder/start_episode")
    assert started.success, started.message
    time.sleep(1.0)
    node.close()
    assert node.recorder.status().state == RecorderStatus.IDLE
    node.close()  # already saved: nothing more
    assert not errors
    with AnyReader([Path(started.bag_path)]) as reader:
        assert {c.topic for c in reader.connections} >= set(TOPICS)
        counts = {c.topic: 0 for c in reader.connections}
        for connection, _, _ in reader.messages():
            counts[connection.topic] += 1
    assert all(counts[topic] > 5 for topic in TOPICS), counts
    assert [p.name for p in Path(started.bag_path).parent.iterdir()] == [Path(started.bag_path).name]
