"""The record node over real DDS warns when a camera runs below the mapping's fps: the fake robot's cameras
send 30 Hz, the mapping asks for 60 fps (status while recording, StopEpisode answer, log)."""

import re
import threading
import time

import pytest
import yaml

rclpy = pytest.importorskip("rclpy", reason="needs the workspace venv (make setup)")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from lerobot_msgs.msg import RecorderStatus  # noqa: E402
from lerobot_msgs.srv import StartEpisode, StopEpisode  # noqa: E402
from lerobot_recorder.ros.record_node import RecordNode  # noqa: E402

pytestmark = pytest.mark.ros

CAMERAS = ["/front/image_raw", "/wrist/image_raw"]
SLOW = re.compile(r"WARNING: /front/image_raw ran at (\d+\.\d) Hz, /wrist/image_raw ran at (\d+\.\d) Hz, "
                  r"below the mapping's 60 fps")  # fmt: skip


class StatusWatch:
    """The recorder's ~/status messages, with a wait (on a condition) for one that satisfies a predicate."""

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


def call(client, srv_type, name: str):
    service = client.create_client(srv_type, name)
    assert service.wait_for_service(timeout_sec=10), f"{name} not available"
    done = threading.Event()
    future = service.call_async(srv_type.Request())
    future.add_done_callback(lambda _: done.set())
    assert done.wait(30), f"{name} did not answer"
    return future.result()


@pytest.fixture
def recorder_at(ros_context, mapping_file, tmp_path, fake_robot):
    """recorder_at(fps) → (record node with the test mapping at ``fps``, client node), both spinning."""
    spinning = []

    def start(fps: int):
        mapping = yaml.safe_load(mapping_file.read_text())
        mapping["fps"] = fps
        mapping_file.write_text(yaml.safe_dump(mapping))
        node = RecordNode(
            context=ros_context,
            parameter_overrides=[
                Parameter("profile", value=str(mapping_file)),
                Parameter("output_dir", value=str(tmp_path / "bags")),
            ],
        )
        client = rclpy.create_node("rates_test_client", context=ros_context)
        executor = SingleThreadedExecutor(context=ros_context)
        executor.add_node(node)
        executor.add_node(client)
        threading.Thread(target=executor.spin, daemon=True).start()
        spinning.append((executor, node, client))
        return node, client

    yield start
    for executor, node, client in spinning:
        executor.shutdown()
        node.destroy_node()
        client.destroy_node()


def record_one_episode(node, client, until) -> tuple[RecorderStatus, StopEpisode.Response, list[str]]:
    """(the first status while recording that satisfies ``until``, the StopEpisode answer, the warnings
    logged)."""
    warnings: list[str] = []
    node.get_logger().warning = warnings.append  # the real logger, spied on
    statuses = StatusWatch(client)
    deadline = time.monotonic() + 15
    while not all(node.count_publishers(t) for t in CAMERAS) and time.monotonic() < deadline:
        time.sleep(0.05)  # discovery has no event to wait on
    assert call(client, StartEpisode, "/recorder/start_episode").success
    recording = statuses.wait(lambda s: s.state == RecorderStatus.RECORDING and until(s))
    return recording, call(client, StopEpisode, "/recorder/stop_episode"), warnings


def test_cameras_below_the_mapping_fps_are_warned_about(recorder_at):
    node, client = recorder_at(60)
    recording, stopped, warnings = record_one_episode(node, client, lambda s: "WARNING" in s.message)
    assert SLOW.search(recording.message), recording.message
    assert stopped.success, stopped.message
    match = SLOW.search(stopped.message)
    assert match, stopped.message
    assert all(float(rate) < 54 for rate in match.groups())  # measured, about 30
    assert "/joint_states" not in stopped.message and "/arm/commands" not in stopped.message
    assert any(SLOW.search(w) for w in warnings), warnings


def test_cameras_at_the_mapping_fps_are_not_warned_about(recorder_at):
    node, client = recorder_at(20)

    def past_the_rate_window(status: RecorderStatus) -> bool:  # 2 s of camera messages
        return status.elapsed >= 2.5 and all(t.received > 60 for t in status.topics if t.topic in CAMERAS)

    recording, stopped, warnings = record_one_episode(node, client, past_the_rate_window)
    assert stopped.success and "WARNING" not in stopped.message, stopped.message
    assert "WARNING" not in recording.message and not warnings
