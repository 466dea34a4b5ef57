"""The sim's camera size and achieved frame rate over real DDS: the sim node runs in its own process (as
`ros2 run` starts it), a subscriber reads its images and its /diagnostics."""

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from lerobot_drivers.ros.sim_node import STATE_QOS
from lerobot_drivers.sim.rate import RateMeter

pytestmark = pytest.mark.ros

START_TIMEOUT = 60.0  # a fresh interpreter imports rclpy and MuJoCo, then opens an OpenGL context


@contextmanager
def running_sim(log: Path, **parameters: object) -> Iterator[str]:
    """The sim node in a fresh namespace (its /diagnostics are told apart by the node name in each status);
    yields the namespace, stops the node (SIGINT) afterwards."""
    namespace = f"/rate_test_{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "lerobot_drivers.ros.sim_node", "--ros-args", "-r", f"__ns:={namespace}"]
    for name, value in parameters.items():
        command += ["-p", f"{name}:={value}"]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        yield namespace
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        print(f"sim node log:\n{log.read_text()}")


class Listener:
    """The sim's front images and its cameras' diagnostic statuses, as they arrive."""

    def __init__(self, context, namespace: str) -> None:
        self.namespace = namespace
        self.node = rclpy.create_node("rate_probe", namespace=namespace, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.images: list[Image] = []
        self.statuses: list[DiagnosticStatus] = []
        self.node.create_subscription(Image, "front/image_raw", self.images.append, qos_profile_sensor_data)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._diagnostics, STATE_QOS)

    def _diagnostics(self, array: DiagnosticArray) -> None:
        self.statuses += [s for s in array.status if s.name.startswith(f"{self.namespace}/sim: ")]

    def camera_status(self, camera: str, spin_until, predicate=lambda _: True) -> dict:
        """The first status of ``camera`` with a measured rate that satisfies ``predicate``, as a dict."""

        def found() -> dict | None:
            for status in self.statuses:
                values = {v.key: v.value for v in status.values}
                if status.name.endswith(f"{camera} camera") and values["rate_hz"] and predicate(values):
                    return {"level": status.level, "message": status.message, **values}
            return None

        assert spin_until(self.executor, lambda: found() is not None, START_TIMEOUT), self.statuses[-2:]
        return found()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def listen(ros_context) -> Iterator:
    listeners = []

    def make(namespace: str) -> Listener:
        listeners.append(Listener(ros_context, namespace))
        return listeners[-1]

    yield make
    for listener in listeners:
        listener.close()


def test_the_default_image_size_is_the_demo_datasets_and_the_achieved_rate_is_diagnosed(
    listen, spin_until, tmp_path
):
    with running_sim(tmp_path / "sim.log", camera_rate=10.0, joint_state_rate=50.0) as namespace:
        listener = listen(namespace)
        front = listener.camera_status("front", spin_until)
        wrist = listener.camera_status("wrist", spin_until)
        assert listener.images, "no front image arrived"
    image = listener.images[-1]
    assert (image.width, image.height) == (128, 96)  # what config/training/act_sim_vision.yaml trains on
    for status in (front, wrist):
        assert (status["width"], status["height"], status["target_hz"]) == ("128", "96", "10")
        assert 0 < float(status["rate_hz"]) <= 11  # measured over the frames published in its window
        assert int(status["frames_published"]) > 0
        assert status["message"].startswith(f"{float(status['rate_hz']):.1f} Hz of 10 Hz")


def test_a_camera_rate_the_renderer_cannot_reach_is_a_warning(listen, spin_until, tmp_path):
    """No CPU renders two 640×480 cameras 2000 times a second: the sim skips frames and says so."""
    parameters = {"camera_rate": 2000.0, "image_width": 640, "image_height": 480, "joint_state_rate": 50.0}
    with running_sim(tmp_path / "sim.log", **parameters) as namespace:
        front = listen(namespace).camera_status("front", spin_until, lambda v: int(v["frames_skipped"]) > 0)
    assert front["level"] == DiagnosticStatus.WARN, front
    assert float(front["rate_hz"]) < 0.9 * 2000
    assert "rendering 640×480 cannot keep up" in front["message"] and "lower image_width" in front["message"]


def test_the_rate_meter_counts_the_last_window_only():
    meter = RateMeter(window=2.0)
    assert meter.rate(0.0) is None  # nothing yet
    for k in range(40):  # 10 Hz for 4 s
        meter.tick(k / 10)
    assert meter.rate(1.95) is None  # less than a window since the first frame
    assert meter.rate(3.95) == pytest.approx(10.0)
    assert meter.rate(10.0) == 0.0  # stalled: nothing in the last window
    assert meter.count == 40
