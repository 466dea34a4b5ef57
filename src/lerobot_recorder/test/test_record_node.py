"""The record node over real DDS: fake robot process → recorder → rosbag2 folders that rosbags reads back;
and when things go wrong: killed mid-episode, disk full, an output folder it cannot create, a mapped topic
that sends nothing (real recorder processes, real bag files)."""

import os
import re
import signal
import sqlite3
import struct
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
from rclpy.impl.rcutils_logger import RcutilsLogger  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402

from lerobot_common.conversions import stamp_ns  # noqa: E402
from lerobot_dataset import DatasetReader  # noqa: E402
from lerobot_msgs.msg import RecorderStatus  # noqa: E402
from lerobot_msgs.srv import DiscardEpisode, StartEpisode, StopEpisode  # noqa: E402
from lerobot_recorder.convert import convert_bags  # noqa: E402
from lerobot_recorder.ros.record_node import PARAMETERS, RecordNode  # noqa: E402

TOPICS = ["/joint_states", "/arm/commands", "/front/image_raw", "/wrist/image_raw"]
RECORDED = {*TOPICS, "/recorder/status"}  # the mapping's record_also adds the status topic


def record_node(ros_context, mapping: Path, output_dir: Path, **parameters) -> RecordNode:
    """A RecordNode recording ``mapping`` into ``output_dir``, with more ``parameters`` (name=value)."""
    values = {"profile": str(mapping), "output_dir": str(output_dir), **parameters}
    overrides = [Parameter(name, value=value) for name, value in values.items()]
    return RecordNode(context=ros_context, parameter_overrides=overrides)


@pytest.fixture
def recorder(ros_context, mapping_file, tmp_path, request):
    storage = getattr(request, "param", "mcap")
    node = record_node(ros_context, mapping_file, tmp_path / "bags", storage=storage)
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


# -- faults --------------------------------------------------------------------------------------------------

FLUSH_INTERVAL = PARAMETERS["flush_interval"][0]  # the recorder's default


class StatusWatch:
    """The recorder's ~/status messages, with a wait for the first one that satisfies a predicate."""

    def __init__(self, node) -> None:
        self.messages: list[RecorderStatus] = []
        self._changed = threading.Condition()
        node.create_subscription(RecorderStatus, "/recorder/status", self._add, 10)

    def _add(self, message: RecorderStatus) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait(self, predicate, timeout: float = 30.0) -> RecorderStatus:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((m for m in self.messages if predicate(m)), None), timeout
            )
        assert found, f"no such status in {timeout} s; last: {self.messages[-1:]}"
        return found


@pytest.fixture
def client(ros_context):
    node = rclpy.create_node("recorder_test_client", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node
    executor.shutdown()
    node.destroy_node()


# Writes past 8 MiB fail with EFBIG, as with ENOSPC on a full disk (SIGXFSZ ignored: it would kill).
LIMIT_FILE_SIZE = (
    "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 2**20, 8 * 2**20)); "
)


def recorder_process(mapping_file: Path, output: Path, storage: str, prelude: str = "") -> subprocess.Popen:
    """The real `record` command; ``prelude``: Python run before it in its process."""
    code = prelude + "import sys, lerobot_recorder.ros.record_node as n; sys.exit(n.main())"
    command = [
        sys.executable, "-c", code,
        "--profile", str(mapping_file), "--output-dir", str(output), "--storage", storage,
    ]  # fmt: skip
    return subprocess.Popen(command)


def mcap_contents(path: Path) -> tuple[dict[str, list[int]], dict[str, str]]:
    """(topic → log times of the messages in complete chunks, custom data of the rosbag2 metadata records),
    read sequentially: the file may end without its summary and footer, or in the middle of a record."""
    data = path.read_bytes()
    assert data[:8] == b"\x89MCAP0\r\n", f"{path} is not an MCAP file"

    def string(buf: bytes, pos: int) -> tuple[str, int]:
        (size,) = struct.unpack_from("<I", buf, pos)
        return buf[pos + 4 : pos + 4 + size].decode(), pos + 4 + size

    def records(buf: bytes, pos: int):
        while pos + 9 <= len(buf):
            op, size = struct.unpack_from("<BQ", buf, pos)
            if pos + 9 + size > len(buf):
                return  # cut short by the kill
            yield op, buf[pos + 9 : pos + 9 + size]
            pos += 9 + size

    topics: dict[int, str] = {}
    times: dict[str, list[int]] = {}
    custom: dict[str, str] = {}
    for op, body in records(data, 8):
        if op == 0x06:  # chunk, uncompressed
            compression, pos = string(body, 28)
            assert not compression
            for inner_op, inner in records(body[pos + 8 :], 0):
                if inner_op == 0x04:  # channel
                    topics[struct.unpack_from("<H", inner)[0]] = string(inner, 4)[0]
                elif inner_op == 0x05:  # message
                    channel, _, log_time = struct.unpack_from("<HIQ", inner)
                    times.setdefault(topics[channel], []).append(log_time)
        elif op == 0x0C:  # metadata
            name, pos = string(body, 0)
            pos += 4
            entries = {}
            while pos < len(body):
                key, pos = string(body, pos)
                entries[key], pos = string(body, pos)
            if name == "rosbag2":
                stored = yaml.safe_load(entries["serialized_metadata"])
                custom = stored.get("custom_data") or custom
    return times, custom


def sqlite_contents(path: Path) -> tuple[dict[str, list[int]], dict[str, str]]:
    """The same from a sqlite3 bag: its committed rows (opening the file rolls back what was not)."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT topics.name, messages.timestamp FROM messages "
            "JOIN topics ON topics.id = messages.topic_id"
        ).fetchall()
        metadata = db.execute("SELECT metadata FROM metadata").fetchall()
    times: dict[str, list[int]] = {}
    for topic, timestamp in rows:
        times.setdefault(topic, []).append(timestamp)
    return times, (yaml.safe_load(metadata[-1][0]).get("custom_data") or {}) if metadata else {}


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_killed_recorder_loses_at_most_its_flush_interval(
    storage, start_fake_robot, mapping_file, client, tmp_path
):
    """SIGKILL mid-episode: every message the recorder had received two flush intervals before the kill is
    readable from the storage file, with the mapping. Tiny images: MCAP chunks never fill up by size."""
    start_fake_robot(16, 12)
    statuses = StatusWatch(client)
    process = recorder_process(mapping_file, tmp_path / "bags", storage)
    try:
        wait_for_publishers(client)
        started = call(client, StartEpisode, "/recorder/start_episode", StartEpisode.Request(task="kill me"))
        assert started.success, started.message
        # two flush intervals later than `before`, the recorder is killed
        before = statuses.wait(lambda s: s.state == RecorderStatus.RECORDING and s.elapsed >= 3.0)
        statuses.wait(lambda s: s.elapsed >= before.elapsed + 2 * FLUSH_INTERVAL)
        process.send_signal(signal.SIGKILL)
        killed_ns = time.time_ns()  # the recorder stamps with the system clock
        process.wait()
    finally:
        process.kill()
    bag = Path(started.bag_path)
    assert not (bag / "metadata.yaml").exists()  # killed: never closed
    read = mcap_contents if storage == "mcap" else sqlite_contents
    times, custom = read(bag / f"{bag.name}.{'mcap' if storage == 'mcap' else 'db3'}")
    assert custom["lerobot.task"] == "kill me" and "fake_robot" in custom["lerobot.mapping"]
    for topic in before.topics:
        readable = len(times.get(topic.topic, []))
        assert readable >= topic.received, f"{topic.topic}: {readable} of {topic.received} messages readable"
    first, last = min(map(min, times.values())), max(map(max, times.values()))
    print(f"{storage}: {(last - first) / 1e9:.2f} s readable, the last {(killed_ns - last) / 1e9:.2f} s lost")


def test_a_full_disk_is_reported_and_the_partial_bag_kept(fake_robot, mapping_file, client, tmp_path):
    statuses = StatusWatch(client)
    process = recorder_process(mapping_file, tmp_path / "bags", "mcap", prelude=LIMIT_FILE_SIZE)
    try:
        wait_for_publishers(client)
        started = call(client, StartEpisode, "/recorder/start_episode")
        assert started.success, started.message
        failed = statuses.wait(lambda s: s.state == RecorderStatus.ERROR)
        assert "cannot write the bag" in failed.message and started.bag_path in failed.message
        stopped = call(client, StopEpisode, "/recorder/stop_episode")
        assert not stopped.success
        assert "File too large" in stopped.message and started.bag_path in stopped.message, stopped.message
        assert stopped.bag_path == started.bag_path
        assert statuses.messages[-1].state == RecorderStatus.ERROR  # until the next start
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0  # the node kept running and shuts down cleanly
    finally:
        process.kill()
    bag = Path(started.bag_path)
    times, custom = mcap_contents(bag / f"{bag.name}.mcap")
    assert "fake_robot" in custom["lerobot.mapping"]
    # what it counts as saved (the flushed messages) is readable, and the complete chunks before the cut
    assert sum(map(len, times.values())) >= max(stopped.message_count, 1)


@pytest.fixture
def make_recorder(ros_context, client, tmp_path):
    """make_recorder(output_dir, mapping_file) → a RecordNode spinning in this process."""
    executors = []

    def make(output_dir: Path, mapping: Path) -> RecordNode:
        node = record_node(ros_context, mapping, output_dir)
        executor = SingleThreadedExecutor(context=ros_context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append((executor, node))
        return node

    yield make
    for executor, node in executors:
        executor.shutdown()
        node.destroy_node()


@pytest.mark.parametrize("sim_time", [True, False])
def test_unstamped_topics_on_simulated_time_are_named(
    sim_time, ros_context, mapping_file, tmp_path, monkeypatch
):
    warnings: list[str] = []
    monkeypatch.setattr(RcutilsLogger, "warning", lambda self, text, **kwargs: warnings.append(text))
    node = record_node(ros_context, mapping_file, tmp_path / "bags", use_sim_time=sim_time)
    node.destroy_node()
    named = [w for w in warnings if w.startswith("use_sim_time:")]
    if not sim_time:
        assert not named, warnings  # on the wall clock the receive time is exact enough
        return
    assert len(named) == 1, warnings
    assert "/arm/commands (std_msgs/msg/Float64MultiArray)" in named[0], named  # the test mapping's action
    assert not any(topic in named[0] for topic in TOPICS if topic != "/arm/commands"), named


@pytest.mark.parametrize("where", ["a file", "inside a file"])
def test_an_output_folder_that_cannot_be_created_fails_the_start_call(
    where, make_recorder, client, mapping_file, fake_robot, tmp_path
):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    output = blocker if where == "a file" else blocker / "bags"
    node = make_recorder(output, mapping_file)
    wait_for_publishers(node)
    for _ in range(2):  # the node keeps answering
        started = call(client, StartEpisode, "/recorder/start_episode")
        assert not started.success
        assert str(output) in started.message and "output_dir" in started.message, started.message
    assert node.recorder.status().state == RecorderStatus.IDLE


def test_topics_that_sent_nothing_are_warned_about_at_stop(make_recorder, client, mapping_file, fake_robot):
    """A camera without a publisher and commands mapped with the wrong type: the episode is saved, with a
    warning in the StopEpisode answer, the log and the status."""
    mapping = yaml.safe_load(mapping_file.read_text())
    mapping["features"]["observation.images.side"] = {
        "topic": "/side/image_raw",
        "type": "sensor_msgs/msg/Image",
    }
    mapping["features"]["action"]["type"] = "sensor_msgs/msg/JointState"  # published as Float64MultiArray
    mapping["fps"] = 10  # far below the fake cameras' 30 Hz: slow cameras of a busy machine go unnamed
    mapping_file.write_text(yaml.safe_dump(mapping))
    statuses = StatusWatch(client)
    node = make_recorder(mapping_file.parent / "bags", mapping_file)
    warnings: list[str] = []
    logger = node.get_logger()
    logger.warning = warnings.append  # the real logger, spied on
    wait_for_publishers(node)
    assert call(client, StartEpisode, "/recorder/start_episode").success
    statuses.wait(lambda s: s.state == RecorderStatus.RECORDING and s.elapsed >= 1.0)
    stopped = call(client, StopEpisode, "/recorder/stop_episode")
    assert stopped.success, stopped.message
    for text in (stopped.message, *warnings):
        assert "WARNING" in text and "/side/image_raw has no publisher" in text, text
        assert "/arm/commands is published as std_msgs/msg/Float64MultiArray" in text, text
    assert warnings
    saved = statuses.wait(lambda s: s.state == RecorderStatus.IDLE and s.episodes_saved == 1)
    assert "WARNING" in saved.message and "/arm/commands, /side/image_raw" in saved.message, saved.message
    assert not any(topic in saved.message for topic in TOPICS if topic != "/arm/commands")


# -- camera rates --------------------------------------------------------------------------------------------

CAMERAS = ["/front/image_raw", "/wrist/image_raw"]  # the fake robot's, at 30 Hz
SLOW = re.compile(r"WARNING: /front/image_raw ran at (\d+\.\d) Hz, /wrist/image_raw ran at (\d+\.\d) Hz, "
                  r"below the mapping's 60 fps")  # fmt: skip


def record_at_fps(fps: int, make_recorder, client, mapping_file: Path, until):
    """One episode with the test mapping at ``fps``: (the first status while recording that satisfies
    ``until``, the StopEpisode answer, the warnings logged)."""
    mapping = yaml.safe_load(mapping_file.read_text())
    mapping["fps"] = fps
    mapping_file.write_text(yaml.safe_dump(mapping))
    statuses = StatusWatch(client)
    node = make_recorder(mapping_file.parent / "bags", mapping_file)
    warnings: list[str] = []
    node.get_logger().warning = warnings.append  # the real logger, spied on
    wait_for_publishers(node)
    assert call(client, StartEpisode, "/recorder/start_episode").success
    recording = statuses.wait(lambda s: s.state == RecorderStatus.RECORDING and until(s))
    return recording, call(client, StopEpisode, "/recorder/stop_episode"), warnings


def test_cameras_below_the_mapping_fps_are_warned_about(make_recorder, client, mapping_file, fake_robot):
    recording, stopped, warnings = record_at_fps(
        60, make_recorder, client, mapping_file, lambda s: "WARNING" in s.message
    )
    assert SLOW.search(recording.message), recording.message
    assert stopped.success, stopped.message
    match = SLOW.search(stopped.message)
    assert match, stopped.message
    assert all(float(rate) < 54 for rate in match.groups())  # measured, about 30
    assert "/joint_states" not in stopped.message and "/arm/commands" not in stopped.message
    assert any(SLOW.search(w) for w in warnings), warnings


def test_cameras_at_the_mapping_fps_are_not_warned_about(make_recorder, client, mapping_file, fake_robot):
    def past_the_rate_window(status: RecorderStatus) -> bool:  # 2 s of camera messages
        return status.elapsed >= 2.5 and all(t.received > 60 for t in status.topics if t.topic in CAMERAS)

    recording, stopped, warnings = record_at_fps(  # 10 fps: a busy machine's 30 Hz cameras keep up
        10, make_recorder, client, mapping_file, past_the_rate_window
    )
    assert stopped.success and "WARNING" not in stopped.message, stopped.message
    assert "WARNING" not in recording.message and not warnings
