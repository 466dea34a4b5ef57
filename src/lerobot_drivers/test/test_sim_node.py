"""The sim and expert nodes over real DDS; the sim runs in its own process, started as `ros2 run` would.

Each sim runs in a namespace of its own, so that nothing else on the ROS domain adds to the counted messages.
"""

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger

from lerobot_common.conversions import stamp_ns
from lerobot_drivers.ros.expert_node import ExpertNode
from lerobot_drivers.ros.sim_node import LATCHED_QOS, STATE_QOS
from lerobot_drivers.sim.rate import RateMeter
from lerobot_drivers.sim.scene import JOINT_NAMES, OBJECT_STATE_NAMES, SimArm, SimConfig

pytestmark = pytest.mark.ros

SEED = 11
JOINT_RATE = 50.0
CAMERA_RATE = 10.0
WIDTH, HEIGHT = 128, 96
START_TIMEOUT = 60.0  # a fresh interpreter imports rclpy and MuJoCo, then opens an OpenGL context


def _ros_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(value) + "]"
    return str(value)


@contextmanager
def running_sim(log: Path, **parameters: object) -> Iterator[str]:
    """Start the sim node in a fresh namespace; yields the namespace, stops the node (SIGINT) afterwards."""
    namespace = f"/sim_test_{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "lerobot_drivers.ros.sim_node", "--ros-args", "-r", f"__ns:={namespace}"]
    for name, value in parameters.items():
        command += ["-p", f"{name}:={_ros_value(value)}"]
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


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory) -> Path:
    """Where the module's sim node writes its output."""
    return tmp_path_factory.mktemp("sim") / "sim.log"


@pytest.fixture(scope="module")
def sim_namespace(sim_log) -> Iterator[str]:
    with running_sim(
        sim_log,
        seed=SEED,
        joint_state_rate=JOINT_RATE,
        camera_rate=CAMERA_RATE,
        cameras=["front", "wrist"],
        image_width=WIDTH,
        image_height=HEIGHT,
    ) as namespace:
        yield namespace


class Probe:
    """A test node that records what the sim publishes and can command it."""

    def __init__(self, context, namespace: str) -> None:
        self.node = rclpy.create_node("sim_probe", namespace=namespace, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[float, object]]] = {}
        topics = [
            (JointState, "joint_states", STATE_QOS),
            (PoseStamped, "sim/cube_pose", STATE_QOS),
            (JointState, "sim/object_state", STATE_QOS),
            (Bool, "sim/success", LATCHED_QOS),
        ]
        for camera in ("front", "wrist"):
            topics += [
                (Image, f"{camera}/image_raw", qos_profile_sensor_data),
                (CameraInfo, f"{camera}/camera_info", qos_profile_sensor_data),
            ]
        for msg_type, topic, qos in topics:
            self.received[topic] = []
            self.node.create_subscription(msg_type, topic, self._recorder(topic), qos)
        self.commands = self.node.create_publisher(Float64MultiArray, "arm/commands", STATE_QOS)
        self.joint_commands = self.node.create_publisher(JointState, "arm/joint_commands", STATE_QOS)

    def _recorder(self, topic: str):
        return lambda msg: self.received[topic].append((time.monotonic(), msg))

    def last(self, topic: str):
        return self.received[topic][-1][1] if self.received[topic] else None

    def positions(self) -> np.ndarray:
        msg = self.last("joint_states")
        return np.array([dict(zip(msg.name, msg.position, strict=True))[n] for n in JOINT_NAMES])

    def call(self, service: str, spin_until) -> Trigger.Response:
        client = self.node.create_client(Trigger, service)
        assert client.wait_for_service(timeout_sec=START_TIMEOUT), f"{service} never appeared"
        future = client.call_async(Trigger.Request())
        assert spin_until(self.executor, future.done, 10.0), f"{service} did not answer"
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def probe(ros_context, sim_namespace, spin_until) -> Iterator[Probe]:
    probe = Probe(ros_context, sim_namespace)
    everything = ("joint_states", "front/image_raw", "wrist/image_raw", "front/camera_info", "sim/cube_pose")
    arrived = spin_until(probe.executor, lambda: all(probe.received[t] for t in everything), START_TIMEOUT)
    assert arrived, {t: len(probe.received[t]) for t in everything}
    yield probe
    probe.close()


def _rate(samples: list[tuple[float, object]], since: float) -> float:
    """Messages per second of the stamps (publication times; arrival times bunch up on a busy machine)."""
    stamps = [stamp_ns(msg) for received, msg in samples if received >= since]
    return (len(stamps) - 1) / ((stamps[-1] - stamps[0]) * 1e-9)


def test_joint_states_and_images_arrive_at_the_configured_rates(probe, spin_until):
    start = time.monotonic()
    spin_until(probe.executor, lambda: False, 3.0)
    joint_rate = _rate(probe.received["joint_states"], start)
    assert JOINT_RATE * 0.8 <= joint_rate <= JOINT_RATE * 1.2, joint_rate
    for camera in ("front", "wrist"):
        image_rate = _rate(probe.received[f"{camera}/image_raw"], start)
        assert CAMERA_RATE * 0.7 <= image_rate <= CAMERA_RATE * 1.2, (camera, image_rate)
        image, info = probe.last(f"{camera}/image_raw"), probe.last(f"{camera}/camera_info")
        assert (image.encoding, image.width, image.height, image.step) == ("rgb8", WIDTH, HEIGHT, 3 * WIDTH)
        assert len(image.data) == HEIGHT * WIDTH * 3
        assert (info.width, info.height, info.header.frame_id) == (WIDTH, HEIGHT, image.header.frame_id)
        assert (info.k[2], info.k[5]) == (WIDTH / 2, HEIGHT / 2) and info.k[0] == info.k[4] > 0
    joints = probe.last("joint_states")
    assert list(joints.name) == list(JOINT_NAMES) and len(joints.position) == len(JOINT_NAMES)
    # The scene's state is named and stamped with the joint states of its tick (a recorder aligns on stamps).
    objects = [msg for _, msg in probe.received["sim/object_state"]]
    assert objects and list(objects[-1].name) == list(OBJECT_STATE_NAMES)
    joint_stamps = {stamp_ns(j) for _, j in probe.received["joint_states"]}
    shared = sum(stamp_ns(o) in joint_stamps for o in objects)  # a full queue may drop one or the other
    assert shared >= 0.9 * len(objects), (shared, len(objects))


def test_position_commands_are_followed_in_joint_order_and_by_name(probe, spin_until):
    goal = np.array([0.3, -0.3, 0.2, 0.5, 0.5, 0.4])  # gripper up and clear of the cube

    def near(target: np.ndarray) -> bool:
        probe.commands.publish(Float64MultiArray(data=target.tolist()))
        return bool(np.all(np.abs(probe.positions() - target) < 0.03))

    assert spin_until(probe.executor, lambda: near(goal), 10.0), probe.positions()

    by_name = goal.copy()
    by_name[[4, 5]] = (-0.4, 1.2)

    def near_by_name() -> bool:
        probe.joint_commands.publish(JointState(name=["wrist_roll", "gripper"], position=[-0.4, 1.2]))
        return bool(np.all(np.abs(probe.positions() - by_name) < 0.03))

    assert spin_until(probe.executor, near_by_name, 10.0), probe.positions()


def test_a_command_with_a_non_finite_value_is_refused_whole(probe, sim_log, spin_until):
    """`[nan, inf, 0, 0, 0, 0]` must not move joints 3–6 (a pose nobody commanded): refused, and warned."""
    goal = np.array([0.2, -0.2, 0.3, 0.4, 0.3, 0.5])

    def near_goal() -> bool:
        probe.commands.publish(Float64MultiArray(data=goal.tolist()))
        return bool(np.all(np.abs(probe.positions() - goal) < 0.03))

    assert spin_until(probe.executor, near_goal, 10.0), probe.positions()

    def refused(publish, warning: str):
        return lambda: (publish(), warning in sim_log.read_text())[1]

    in_order = Float64MultiArray(data=[math.nan, math.inf, 0.0, 0.0, 0.0, 0.0])
    warning = "arm/commands ignored: command refused, no joint moved: non-finite setpoint shoulder_pan=nan"
    assert spin_until(probe.executor, refused(lambda: probe.commands.publish(in_order), warning), 10.0)
    by_name = JointState(name=["elbow_flex", "gripper"], position=[0.0, math.nan])
    warning = "arm/joint_commands ignored: command refused, no joint moved: non-finite setpoint gripper=nan"
    assert spin_until(probe.executor, refused(lambda: probe.joint_commands.publish(by_name), warning), 10.0)

    count = len(probe.received["joint_states"])  # states simulated after both were refused
    assert spin_until(probe.executor, lambda: len(probe.received["joint_states"]) > count + 25, 10.0)
    np.testing.assert_allclose(probe.positions(), goal, atol=0.03)


def test_reset_and_randomize_follow_the_seeded_layout_series(probe, spin_until):
    expected = SimArm(SimConfig(seed=SEED))  # the same seed gives the same series, layout 0 at start-up
    after_reset, after_randomize = expected.reset(), expected.randomize_cube()
    home = expected.joint_positions()

    def cube_at(xy: tuple[float, float]) -> bool:
        msg = probe.last("sim/cube_pose")
        return math.dist((msg.pose.position.x, msg.pose.position.y), xy) < 0.003

    response = probe.call("sim/reset", spin_until)
    assert response.success, response.message
    assert spin_until(probe.executor, lambda: cube_at(after_reset.cube_xy), 5.0)
    assert spin_until(probe.executor, lambda: np.allclose(probe.positions(), home, atol=0.03), 5.0)

    arm = probe.positions()
    assert probe.call("sim/randomize_cube", spin_until).success
    assert spin_until(probe.executor, lambda: cube_at(after_randomize.cube_xy), 5.0)
    np.testing.assert_allclose(probe.positions(), arm, atol=0.03)  # the arm stays put

    # Success is latched: a subscriber that joins late still hears the current value.
    assert probe.received["sim/success"] and probe.last("sim/success").data is False


def test_expert_node_completes_episodes_on_simulated_time(ros_context, spin_until, tmp_path):
    with running_sim(
        tmp_path / "sim.log", seed=3, camera_rate=0.0, publish_clock=True, real_time_factor=2.0
    ) as namespace:
        expert = ExpertNode(
            context=ros_context,
            namespace=namespace,
            parameter_overrides=[Parameter("use_sim_time", value=True), Parameter("episodes", value=2)],
        )
        commands: list[JointState] = []
        expert.create_subscription(JointState, f"{namespace}/arm/joint_commands", commands.append, STATE_QOS)
        executor = SingleThreadedExecutor(context=ros_context)
        executor.add_node(expert)
        try:
            assert spin_until(executor, lambda: expert.finished, START_TIMEOUT), expert.results
        finally:
            executor.shutdown()
            expert.destroy_node()
    assert expert.results == [True, True]
    # Stamped by name when computed, on simulated time (a recorder's receive time lags /clock at 2×).
    assert commands and all(list(c.name) == list(JOINT_NAMES) for c in commands)
    stamps = np.array([stamp_ns(c) for c in commands]) / 1e9
    assert stamps[-1] < 600 and np.all(np.diff(stamps) > 0)  # simulated seconds, not the wall clock's
    assert np.median(np.diff(stamps)) == pytest.approx(1 / 30, abs=0.01)  # the expert's 30 Hz


def _interrupt_a_busy_sim(node, executor, spin_until) -> tuple[int, str]:
    """Start a sim that publishes as fast as it can, Ctrl-C it once it publishes; its exit code and stderr."""
    namespace = f"/sim_stop_{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "lerobot_drivers.ros.sim_node", "--ros-args", "-r", f"__ns:={namespace}"]
    for parameter in ("camera_rate:=0.0", "joint_state_rate:=1000.0", "publish_clock:=true"):
        command += ["-p", parameter]
    command += ["-p", "real_time_factor:=0.0"]  # no pacing: the thread publishes all the time
    received: list[JointState] = []
    subscription = node.create_subscription(
        JointState, f"{namespace}/joint_states", received.append, STATE_QOS
    )
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert spin_until(executor, lambda: len(received) >= 10, START_TIMEOUT), process.poll()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        node.destroy_subscription(subscription)
    return process.returncode, err


@pytest.mark.timeout(300)
def test_ctrl_c_stops_the_simulation_thread_before_ros_shuts_down(ros_context, spin_until):
    """Ctrl-C while the simulation thread publishes flat out: a clean exit every time, no traceback from
    the thread ("publisher's context is invalid"). Repeated, since it is a race."""
    node = rclpy.create_node("sim_shutdown_probe", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    try:
        for attempt in range(5):
            code, err = _interrupt_a_busy_sim(node, executor, spin_until)
            assert code == 0, (attempt, code, err)
            assert "Traceback" not in err and "RCLError" not in err, (attempt, err)
    finally:
        executor.shutdown()
        node.destroy_node()


# -- camera size and achieved rate (/diagnostics) ---------------------------------------------------------


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
    assert (image.width, image.height) == (128, 96)  # what the demos record
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
