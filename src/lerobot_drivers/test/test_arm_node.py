"""The arm node as its own process on an emulated arm, driven by a real rclpy client over real DDS."""

import math
import os
import signal
import subprocess
import sys
import time

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from lerobot_common.calibration import calibration_path, save_calibration
from lerobot_common.robot_description import load_robot_description
from lerobot_drivers.emulator import emulate_arm

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


class Client:
    """A test-side node in its own context: records what the arm node publishes, sends commands."""

    def __init__(self, namespace: str):
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("arm_test_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.states: list[JointState] = []
        self.diagnostics: list[DiagnosticStatus] = []
        self.node.create_subscription(JointState, f"{namespace}/joint_states", self.states.append, RELIABLE)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, RELIABLE)
        self.commands = self.node.create_publisher(Float64MultiArray, f"{namespace}/arm/commands", 10)
        self.joint_commands = self.node.create_publisher(JointState, f"{namespace}/arm/joint_commands", 10)
        self.set_torque_client = self.node.create_client(SetBool, f"{namespace}/arm/set_torque")
        self._namespace = namespace

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        self.diagnostics.extend(s for s in msg.status if f"{self._namespace}/arm" in s.name)

    def spin_until(self, predicate, timeout: float, while_spinning=None) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            if while_spinning is not None:
                while_spinning()
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def position(self, joint: str) -> float:
        last = self.states[-1]
        return last.position[list(last.name).index(joint)]

    def set_torque(self, enabled: bool) -> SetBool.Response:
        assert self.set_torque_client.wait_for_service(timeout_sec=10)
        future = self.set_torque_client.call_async(SetBool.Request(data=enabled))
        assert self.spin_until(future.done, timeout=10)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def start_arm_node(namespace: str, **parameters) -> subprocess.Popen:
    args = [sys.executable, "-m", "lerobot_drivers.ros.arm_node", "--ros-args", "-r", f"__ns:={namespace}"]
    for name, value in parameters.items():
        args += ["-p", f"{name}:={value}"]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
    )


def stop(process: subprocess.Popen) -> tuple[int, str]:
    """SIGINT (Ctrl-C), as `ros2 run` users stop a node; returns its exit code and output."""
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


@pytest.fixture
def calibrated(calibration_root, so101_calibration):
    """An SO-101 follower calibrated (file and motors) under id `test_arm`, its emulator running."""
    description = load_robot_description("so101_follower")
    save_calibration(calibration_path("so101_follower", "test_arm"), so101_calibration)
    with emulate_arm(description, calibration=so101_calibration) as emulator:
        yield emulator


def test_follower_publishes_joints_and_follows_commands(calibrated):
    emulator = calibrated
    process = start_arm_node("/follower", port=emulator.port, id="test_arm", on_shutdown="torque_off")
    client = Client("/follower")
    try:
        assert client.spin_until(lambda: len(client.states) >= 5, timeout=30), stop(process)[1]
        first = client.states[-1]
        assert list(first.name) == JOINTS
        assert all(abs(p) < 2e-3 for p in first.position)  # the emulator starts mid-range: ~0 rad
        stamp = first.header.stamp.sec + first.header.stamp.nanosec * 1e-9
        assert abs(stamp - time.time()) < 10  # wall time

        count = len(client.states)
        assert client.spin_until(lambda: len(client.states) >= count + 5, timeout=10)  # it keeps publishing
        stamps = [s.header.stamp.sec * 10**9 + s.header.stamp.nanosec for s in client.states]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # a fresh sample each time

        # Float64MultiArray in joint order (forward_command_controller convention).
        goal = [0.3, -0.2, 0.5, 0.1, -0.4, 0.2]
        assert client.spin_until(
            lambda: all(abs(client.position(j) - g) < 0.01 for j, g in zip(JOINTS, goal, strict=True)),
            timeout=10,
            while_spinning=lambda: client.commands.publish(Float64MultiArray(data=goal)),
        ), [round(p, 3) for p in client.states[-1].position]

        # JointState by name, for a subset (topic_based_ros2_control convention).
        assert client.spin_until(
            lambda: abs(client.position("gripper") - 0.6) < 0.01,
            timeout=10,
            while_spinning=lambda: client.joint_commands.publish(
                JointState(name=["gripper"], position=[0.6])
            ),
        )
        assert client.position("elbow_flex") == pytest.approx(0.5, abs=0.01)
        velocity_seen = any(abs(v) > 0.1 for s in client.states for v in s.velocity)
        assert velocity_seen

        response = client.set_torque(False)
        assert response.success, response.message
        assert [emulator.servo(i).get("Torque_Enable") for i in range(1, 7)] == [0] * 6
        assert client.set_torque(True).success
        assert emulator.servo(3).get("Torque_Enable") == 1

        assert client.spin_until(lambda: client.diagnostics, timeout=5)
        diagnostic = client.diagnostics[-1]
        values = {kv.key: kv.value for kv in diagnostic.values}
        assert diagnostic.level == DiagnosticStatus.OK and diagnostic.hardware_id == emulator.port
        assert values["mode"] == "follower" and values["gripper voltage_v"] == "7.4"
    finally:
        code, output = stop(process)
        client.close()
    assert code == 0, output
    # on_shutdown:=torque_off: the arm is left limp.
    assert [emulator.servo(i).get("Torque_Enable") for i in range(1, 7)] == [0] * 6


def test_node_survives_an_unplug_and_holds_on_shutdown(calibration_root, koch_calibration):
    description = load_robot_description("koch_follower")
    calibration = koch_calibration
    save_calibration(calibration_path("koch_follower", "koch"), calibration)
    with emulate_arm(description, calibration=calibration) as emulator:
        process = start_arm_node(
            "/koch", port=emulator.port, id="koch", robot="koch_follower", reconnect_period_s=0.2
        )
        client = Client("/koch")
        try:
            assert client.spin_until(lambda: client.states, timeout=30), stop(process)[1]
            emulator.unplug()
            assert client.spin_until(
                lambda: client.diagnostics and client.diagnostics[-1].level == DiagnosticStatus.ERROR,
                timeout=10,
            )
            assert (
                "unplugged" in client.diagnostics[-1].message
                or "reconnecting" in client.diagnostics[-1].message
            )
            client.states.clear()
            client.spin_until(lambda: False, timeout=0.5)
            assert not client.states and process.poll() is None  # no stale states, no crash

            emulator.replug()
            assert client.spin_until(lambda: len(client.states) > 5, timeout=10)
            assert client.spin_until(
                lambda: {kv.key: kv.value for kv in client.diagnostics[-1].values}.get("reconnects") == "1",
                timeout=5,
            )
            assert client.spin_until(
                lambda: abs(client.position("wrist_flex") + 0.3) < 0.01,
                timeout=10,
                while_spinning=lambda: client.joint_commands.publish(
                    JointState(name=["wrist_flex"], position=[-0.3])
                ),
            )
        finally:
            code, output = stop(process)
            client.close()
        assert code == 0, output
        wrist = emulator.servo(4)
        wrist.refresh()
        # on_shutdown defaults to hold: torque stays on at the present pose.
        assert wrist.get("Torque_Enable") == 1 and wrist.get("Goal_Position") == wrist.get("Present_Position")


def test_leader_is_limp_and_publishes_the_hand_pose(calibration_root, so101_calibration):
    description = load_robot_description("so101_leader")
    save_calibration(calibration_path("so101_leader", "leader", category="teleoperators"), so101_calibration)
    with emulate_arm(description, calibration=so101_calibration) as emulator:
        process = start_arm_node("/leader", port=emulator.port, id="leader", robot="so101_leader")
        client = Client("/leader")
        try:
            assert client.spin_until(lambda: client.states, timeout=30), stop(process)[1]
            assert emulator.servo(3).get("Torque_Enable") == 0
            elbow = so101_calibration["elbow_flex"]
            emulator.servo(3).move_by_hand(elbow.range_min)
            expected = (elbow.range_min - (elbow.range_min + elbow.range_max) / 2) * 2 * math.pi / 4096
            assert client.spin_until(lambda: abs(client.position("elbow_flex") - expected) < 1e-6, timeout=5)
            goal_before = emulator.servo(3).get("Goal_Position")
            client.spin_until(
                lambda: False,
                timeout=0.5,
                while_spinning=lambda: client.commands.publish(Float64MultiArray(data=[0.0] * 6)),
            )
            assert emulator.servo(3).get("Goal_Position") == goal_before  # commands are ignored
        finally:
            code, output = stop(process)
            client.close()
        assert code == 0, output


def test_missing_port_exits_with_a_clear_message(calibrated):
    process = start_arm_node("/nowhere", port="/dev/does-not-exist", id="test_arm")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "no serial port at /dev/does-not-exist" in output and "Traceback" not in output


def test_command_with_a_non_finite_value_is_refused_whole_and_reported(calibrated):
    """`[nan, inf, 0, 0, 0, 0]` must not move joints 3–6: the command is refused, the diagnostics say so."""
    emulator = calibrated
    process = start_arm_node("/nan_arm", port=emulator.port, id="test_arm", diagnostics_period_s=0.2)
    client = Client("/nan_arm")
    try:
        goal = [0.3, -0.2, 0.5, 0.1, -0.4, 0.2]
        assert client.spin_until(
            lambda: client.states
            and all(abs(client.position(j) - g) < 0.01 for j, g in zip(JOINTS, goal, strict=True)),
            timeout=30,
            while_spinning=lambda: client.commands.publish(Float64MultiArray(data=goal)),
        ), stop(process)[1]
        goals = [emulator.servo(i).get("Goal_Position") for i in range(1, 7)]

        def refusals() -> int:
            last = {kv.key: kv.value for kv in client.diagnostics[-1].values} if client.diagnostics else {}
            return int(last.get("rejected_commands", 0))

        bad = [math.nan, math.inf, 0.0, 0.0, 0.0, 0.0]
        assert client.spin_until(
            lambda: refusals() >= 1,
            timeout=10,
            while_spinning=lambda: client.commands.publish(Float64MultiArray(data=bad)),
        )
        count = refusals()
        # By name too: one NaN among the named joints refuses the others.
        assert client.spin_until(
            lambda: refusals() > count,
            timeout=10,
            while_spinning=lambda: client.joint_commands.publish(
                JointState(name=["elbow_flex", "gripper"], position=[0.0, math.nan])
            ),
        )
        warned = next(d for d in reversed(client.diagnostics) if d.level == DiagnosticStatus.WARN)
        assert "non-finite" in warned.message
        assert [emulator.servo(i).get("Goal_Position") for i in range(1, 7)] == goals
    finally:
        code, output = stop(process)
        client.close()
    assert code == 0, output
    assert (
        "command refused, no joint moved: non-finite setpoint shoulder_pan=nan, shoulder_lift=inf" in output
    )
