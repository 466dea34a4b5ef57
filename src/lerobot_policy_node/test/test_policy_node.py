"""The policy node over real DDS: a robot (the fake robot process, or a stand-in in the test's process whose
state the test sets) → node with a small ACT checkpoint → a subscriber in the place of each controller type.

Every node, executor and spinning thread a test makes belongs to the ``graph`` fixture, which stops and
destroys them all after the test, whether it passed or not.
"""

import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the workspace venv (make setup)")
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from lerobot_dataset.features import DEFAULT_FEATURES  # noqa: E402
from lerobot_msgs.msg import ActionChunk, PolicyStatus  # noqa: E402
from lerobot_policy_node.remote.served_checkpoint import ServedCheckpoint  # noqa: E402
from lerobot_policy_node.remote.server import ServerThread  # noqa: E402
from lerobot_policy_node.ros.policy_node import HOLD_LOG_PERIOD_S, PolicyNode  # noqa: E402
from lerobot_training.checkpoint import save_pretrained  # noqa: E402
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors  # noqa: E402

FPS = 50
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
MAPPING = textwrap.dedent(
    f"""
    name: fake_robot
    robot_type: so101
    fps: {FPS}
    task: Pick up the cube.
    features:
      observation.state: {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
      action: {{topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS}}}
      observation.images.{{camera}}: {{topic: /front/image_raw, type: sensor_msgs/msg/Image}}
    """
)
OUTPUT_TYPES = {"forward": Float64MultiArray, "trajectory": JointTrajectory, "joint_state": JointState}


def test_every_registered_output_is_driven_end_to_end_here():
    """A new controller output gets its case in OUTPUT_TYPES (and in the assertions below) with it."""
    from lerobot_policy_node.outputs import OUTPUTS

    assert set(OUTPUT_TYPES) == set(OUTPUTS)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random small ACT (ResNet-18 backbone) for one 128×96 camera, saved like a trained one."""
    features = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": JOINTS},
        "observation.images.front": {
            "dtype": "video",
            "shape": [96, 128, 3],
            "names": ["height", "width", "channels"],
        },
        "action": {"dtype": "float32", "shape": [6], "names": JOINTS},
        **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
    }
    stats = {
        name: {"mean": [0.0] * 6, "std": [1.0] * 6, "min": [-1.0] * 6, "max": [1.0] * 6}
        for name in ("observation.state", "action")
    }
    stats["observation.images.front"] = {
        "mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3, "min": [[[0.0]]] * 3, "max": [[[1.0]]] * 3
    }  # fmt: skip
    config = make_policy_config(
        "act", pretrained_backbone_weights=None, device="cpu", dim_model=64, n_heads=4, dim_feedforward=128,
        n_encoder_layers=2, n_vae_encoder_layers=1, latent_dim=8, chunk_size=100, n_action_steps=100,
    )  # fmt: skip
    policy = make_policy(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, stats)
    return save_pretrained(
        tmp_path_factory.mktemp("act") / "pretrained_model", policy, preprocessor, postprocessor
    )


@pytest.fixture(scope="module")
def ensembling_checkpoint(checkpoint, tmp_path_factory):
    """The same ACT with lerobot's temporal ensembling in its config.json (no weight depends on it)."""
    directory = tmp_path_factory.mktemp("act_ensembling") / "pretrained_model"
    shutil.copytree(checkpoint, directory)
    config = json.loads((directory / "config.json").read_text())
    config.update(n_action_steps=1, temporal_ensemble_coeff=0.05)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


class Graph:
    """The nodes of one test; each group added with ``spin`` runs on an executor thread of its own."""

    def __init__(self, context) -> None:
        self.context = context
        self.nodes: list = []
        self.spinners: list[tuple[SingleThreadedExecutor, threading.Thread, threading.Event]] = []

    def node(self, name: str):
        self.nodes.append(rclpy.create_node(name, context=self.context))
        return self.nodes[-1]

    def policy_node(
        self,
        tmp_path,
        checkpoint,
        output: str = "forward",
        camera: str = "front",
        max_step: float = 0.0,
        extra: tuple[Parameter, ...] = (),
    ) -> PolicyNode:
        """The policy node commanding /test/commands, spinning as in its main() (one executor thread)."""
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(MAPPING.replace("{camera}", camera))
        node = PolicyNode(
            context=self.context,
            parameter_overrides=[
                Parameter("checkpoint", value=str(checkpoint)),
                Parameter("mapping", value=str(mapping)),
                Parameter("output", value=output),
                Parameter("command_topic", value="/test/commands"),
                Parameter("max_step", value=max_step),  # 0: no step bound, the random policy may jump
                *extra,
            ],
        )
        self.nodes.append(node)
        self.spin(node)
        return node

    def spin(self, *nodes) -> None:
        executor = SingleThreadedExecutor(context=self.context)
        for node in nodes:
            executor.add_node(node)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                executor.spin_once(timeout_sec=0.05)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self.spinners.append((executor, thread, stop))

    def close(self) -> None:
        for _, _, stop in self.spinners:
            stop.set()
        for executor, thread, _ in self.spinners:
            thread.join()
            executor.shutdown()
        for node in reversed(self.nodes):
            node.destroy_node()  # the policy node's inference thread with it


@pytest.fixture
def graph(ros_context):
    made = Graph(ros_context)
    try:
        yield made
    finally:
        made.close()


class Inbox:
    """The messages of one topic with their arrival times; ``wait`` blocks until a condition on them holds."""

    def __init__(self, node, message_type, topic: str, qos=100) -> None:
        self.messages: list = []
        self._changed = threading.Condition()
        node.create_subscription(message_type, topic, self._add, qos)

    def _add(self, message) -> None:
        with self._changed:
            self.messages.append((time.monotonic(), message))
            self._changed.notify_all()

    def wait(self, condition, timeout: float = 30.0) -> bool:
        """Whether ``condition(messages)`` (messages without their times) came true within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: condition([m for _, m in self.messages]), timeout)


def logged(capfd, text: str) -> list[str]:
    """The policy node's log lines containing ``text``, as its console shows them (read once per test)."""
    return [line for line in capfd.readouterr().err.splitlines() if "[policy]:" in line and text in line]


def newest(condition):
    """A condition on the newest message, for Inbox.wait."""
    return lambda messages: bool(messages) and condition(messages[-1])


def wait_until(condition, timeout: float = 20.0) -> bool:
    """For conditions on a node's state, which signals nothing: polled."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


class Robot:
    """A stand-in robot in the test's process, over real DDS: joint states at 100 Hz, reporting ``position``
    (the test sets it, NaN included; ``publishing`` False stops them), and a grey camera at 30 Hz."""

    def __init__(self, graph: Graph, width: int, height: int, position) -> None:
        self.position, self.publishing = list(position), True
        node = graph.node("test_robot")
        states = node.create_publisher(JointState, "/joint_states", 10)
        camera = node.create_publisher(Image, "/front/image_raw", qos_profile_sensor_data)
        pixels = np.full(width * height * 3, 128, np.uint8).tobytes()
        image = Image(height=height, width=width, encoding="rgb8", step=3 * width, data=pixels)

        def publish_state() -> None:
            if self.publishing:
                msg = JointState(name=JOINTS, position=[float(v) for v in self.position])
                msg.header.stamp = node.get_clock().now().to_msg()
                states.publish(msg)

        node.create_timer(0.01, publish_state)
        node.create_timer(1 / 30, lambda: camera.publish(image))
        graph.spin(node)


def slowed(predict, seconds: float):
    """The policy made slower than a control tick on purpose: how fast it really is depends on the machine."""

    def slow(observation, pending, delay):
        time.sleep(seconds)
        return predict(observation, pending, delay)

    return slow


def call(node, service: str) -> Trigger.Response:
    """Call a Trigger service of the policy node from ``node`` (spinning elsewhere), as an operator would."""
    client = node.create_client(Trigger, service)
    assert client.wait_for_service(timeout_sec=10), f"no {service}"
    done = threading.Event()
    future = client.call_async(Trigger.Request())
    future.add_done_callback(lambda _: done.set())
    assert done.wait(10), f"{service} did not answer"
    return future.result()


def activate(node: PolicyNode) -> None:
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    assert wait_until(lambda: node.ready_to_activate), node.holding_reason
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason


@pytest.mark.parametrize("output", sorted(OUTPUT_TYPES))
def test_commands_flow_at_the_control_rate_across_chunks(
    graph, tmp_path, checkpoint, start_fake_robot, output, capfd
):
    start_fake_robot(128, 96)
    node = graph.policy_node(tmp_path, checkpoint, output)
    listener = graph.node("controller_stand_in")
    commands = Inbox(listener, OUTPUT_TYPES[output], "/test/commands")
    chunks = Inbox(listener, ActionChunk, "/policy/action_chunk")
    statuses = Inbox(listener, PolicyStatus, "/policy/status")
    graph.spin(listener)
    period = 1.0 / FPS
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    node.runner.predict = slowed(node.runner.predict, 1.5 * period)
    assert wait_until(lambda: node.ready_to_activate), node.holding_reason
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    assert chunks.wait(lambda m: len(m) >= 6), f"only {len(chunks.messages)} chunks: {node.holding_reason}"
    # ~/stop: silent, so that a reset or a teleoperator commanding the arm is not fought by hold commands
    assert call(listener, "/policy/stop").success
    assert statuses.wait(newest(lambda s: s.message == "stopped (call ~/start)"))  # a tick saw it
    after_stop, seen = len(commands.messages), len(statuses.messages)
    assert statuses.wait(lambda m: len(m) > seen)  # the next status, a second later
    assert len(commands.messages) == after_stop, "a stopped policy node kept commanding"
    node.trigger_deactivate()

    chunk_messages = [c for _, c in chunks.messages]
    inference = [c.inference_time for c in chunk_messages]
    # the measured inference time is what is reported: at least the slowed policy's, in chunks and status
    assert min(inference) >= 1.5 * period
    assert all(s.inference_time >= 1.5 * period for _, s in statuses.messages if s.chunks >= 1)
    # no gap between chunks (a hold begins with a warning; a stale input on a loaded machine is not a gap)
    holds = logged(capfd, "holding position")
    gaps = [h for h in holds if "no action left" in h]
    assert gaps == [], f"{gaps} (inference {max(inference):.3f} s max; all holds: {holds})"
    for chunk in chunk_messages:
        assert chunk.policy_type == "act" and list(chunk.joint_names) == JOINTS
        assert chunk.horizon == 100 and len(chunk.positions) == 100 * 6 and np.isfinite(chunk.positions).all()
        assert chunk.control_period == pytest.approx(period)
    if output == "trajectory":  # one trajectory per chunk, points at the control period, with velocities
        assert len(commands.messages) >= len(chunk_messages) - 1
        for _, trajectory in commands.messages:
            assert list(trajectory.joint_names) == JOINTS
            times = [p.time_from_start.sec + p.time_from_start.nanosec / 1e9 for p in trajectory.points]
            assert times == pytest.approx([period * (k + 1) for k in range(len(times))], abs=1e-6)
            assert all(len(p.velocities) == 6 and np.isfinite(p.positions).all() for p in trajectory.points)
        return
    # one command per tick (timing jitter is the benchmark's business: benchmarks/policy_loop.py)
    stamps = [t for t, _ in commands.messages]
    assert len(stamps) > 0.5 * FPS * (stamps[-1] - stamps[0]), (
        f"{len(stamps)} commands in {stamps[-1] - stamps[0]:.1f} s"
    )
    values = [m.data if output == "forward" else m.position for _, m in commands.messages]
    assert all(len(v) == 6 and np.isfinite(v).all() for v in values)
    if output == "joint_state":
        assert all(list(m.name) == JOINTS for _, m in commands.messages)


def test_renamed_camera_refuses_to_configure(graph, tmp_path, checkpoint):
    node = graph.policy_node(tmp_path, checkpoint, camera="top")
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "needs 'observation.images.front'" in node.holding_reason
    assert "observation.images.top" in node.holding_reason


def test_activation_waits_for_the_robot_state(graph, tmp_path, checkpoint, start_fake_robot):
    """Activation is refused without a state to hold (a safety check); ready_to_activate tells beforehand."""
    node = graph.policy_node(tmp_path, checkpoint)
    assert not node.ready_to_activate  # unconfigured
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    assert not node.ready_to_activate
    assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
    assert "cannot activate: observation.state: no message yet" in node.holding_reason
    start_fake_robot(128, 96)
    assert wait_until(lambda: node.ready_to_activate)
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    node.trigger_deactivate()


def test_reconfiguring_replaces_the_command_publisher(graph, tmp_path, checkpoint):
    """cleanup destroys what configure made: configure → cleanup → configure leaves one command publisher."""
    node = graph.policy_node(tmp_path, checkpoint)
    for _ in range(2):
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        publishers = node.get_publishers_info_by_topic("/test/commands")
        assert [p.topic_type for p in publishers] == ["std_msgs/msg/Float64MultiArray"]
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert node.get_publishers_info_by_topic("/test/commands") == []


def test_auto_ensembles_a_checkpoint_trained_with_it_using_its_coefficient(
    graph, tmp_path, ensembling_checkpoint
):
    node = graph.policy_node(tmp_path, ensembling_checkpoint)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    assert node.strategy == "ensemble" and node.policy.whole_chunks
    assert node.runner.merger.coeff == 0.05


def test_no_command_before_a_finite_state_and_every_start_from_the_measured_pose(graph, tmp_path, checkpoint):
    """A NaN in the joint state never becomes a command (nor a zero pose): activation waits for a finite
    state, the bounded steps start from it, and after ~/reset from the pose measured then."""
    robot = Robot(graph, 128, 96, position=[np.nan] + [1.0] * 5)
    node = graph.policy_node(tmp_path, checkpoint, max_step=0.05)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    listener = graph.node("controller_stand_in")  # subscribed after the node: it saw these states too
    commands = Inbox(listener, Float64MultiArray, "/test/commands")
    states = Inbox(listener, JointState, "/joint_states")
    statuses = Inbox(listener, PolicyStatus, "/policy/status")
    graph.spin(listener)
    assert states.wait(lambda m: len(m) >= 20)
    assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
    assert "observation.state: last message rejected: non-finite values [nan, 1.0" in node.holding_reason
    measured = np.full(6, 1.0)  # 1 rad from the zero pose
    robot.position = list(measured)
    assert wait_until(lambda: node.ready_to_activate)
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    assert commands.wait(lambda m: len(m) >= 20)
    sent = np.array([m.data for _, m in commands.messages[:20]])
    assert sent[0] == pytest.approx(measured)  # held where the arm is until the first chunk
    assert (np.abs(sent - measured).max(axis=1) <= 0.05 * np.arange(1, 21) + 1e-9).all()

    robot.position = [np.nan] * 6  # while active: hold the last safe command
    assert wait_until(lambda: "rejected: non-finite" in node.holding_reason)
    assert call(listener, "/policy/reset").success  # forgets the pose: none until a finite one is measured
    seen = len(statuses.messages)
    assert statuses.wait(lambda m: len(m) > seen)  # published after the reset, so after any earlier command
    after_reset, seen = len(commands.messages), len(statuses.messages)
    assert statuses.wait(lambda m: len(m) > seen and "rejected: non-finite" in m[-1].message)
    assert len(commands.messages) == after_reset, "commanded a pose it had not measured"
    moved = np.full(6, -0.5)  # the arm was moved meanwhile
    robot.position = list(moved)
    assert commands.wait(lambda m: len(m) > after_reset)
    assert commands.messages[after_reset][1].data == pytest.approx(moved)


def test_non_finite_actions_hold_with_the_reason_and_are_never_published(graph, tmp_path, checkpoint):
    Robot(graph, 128, 96, position=[0.5] * 6)
    node = graph.policy_node(tmp_path, checkpoint)
    listener = graph.node("monitor")
    chunks = Inbox(listener, ActionChunk, "/policy/action_chunk")
    statuses = Inbox(listener, PolicyStatus, "/policy/status")
    diagnostics = Inbox(listener, DiagnosticArray, "/diagnostics")
    commands = Inbox(listener, Float64MultiArray, "/test/commands")
    graph.spin(listener)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    predict = node.runner.predict
    node.runner.predict = lambda o, p, d: predict(o, p, d) * np.nan  # a policy gone bad: all NaN
    assert wait_until(lambda: node.ready_to_activate), node.holding_reason
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    assert statuses.wait(
        lambda m: any(s.state == PolicyStatus.HOLDING and "non-finite actions" in s.message for s in m)
    ), [s.message for _, s in statuses.messages]
    assert diagnostics.wait(
        lambda m: any(
            d.status[0].level == DiagnosticStatus.WARN and "non-finite actions" in d.status[0].message
            for d in m
        )
    )
    assert chunks.messages == []
    assert all(m.data == pytest.approx([0.5] * 6) for _, m in commands.messages)  # held where it is


def test_camera_of_another_size_with_the_trained_aspect_ratio_is_resized_and_said_once(
    graph, tmp_path, checkpoint, capfd
):
    Robot(graph, 64, 48, position=[0.0] * 6)  # the policy was trained on 128×96
    node = graph.policy_node(tmp_path, checkpoint)
    listener = graph.node("monitor")
    chunks = Inbox(listener, ActionChunk, "/policy/action_chunk")
    graph.spin(listener)
    activate(node)
    assert chunks.wait(lambda m: len(m) >= 2), node.holding_reason  # inference on resized images
    said = logged(capfd, "resized")
    assert len(said) == 1 and said[0].endswith(
        "camera 'observation.images.front': 64×48 images are resized to 128×96, the size the policy was "
        "trained on"
    )


def test_camera_of_another_aspect_ratio_is_refused_naming_it_and_both_sizes(graph, tmp_path, checkpoint):
    Robot(graph, 64, 64, position=[0.0] * 6)
    node = graph.policy_node(tmp_path, checkpoint)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    listener = graph.node("monitor")
    images = Inbox(listener, Image, "/front/image_raw", qos_profile_sensor_data)
    graph.spin(listener)
    assert images.wait(lambda m: len(m) >= 5)
    assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
    assert (
        "observation.images.front: last message rejected: camera 'observation.images.front' gives 64×64 "
        "images, the policy was trained on 128×96: another aspect ratio" in node.holding_reason
    )


def test_autostart_that_cannot_configure_exits_with_the_error(tmp_path):
    """--autostart means run or fail: a checkpoint that cannot be loaded ends the process, non-zero, with the
    reason and no traceback."""
    missing = tmp_path / "no_such_checkpoint"
    command = [
        str(Path(sys.executable).with_name("lerobot-ros-policy")),
        "--autostart",
        "--checkpoint",
        str(missing),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = process.communicate(timeout=120)  # a guard against the old hang, not a speed limit
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 1, stderr
    assert "lerobot-ros-policy: cannot configure:" in stderr and str(missing) in stderr
    assert "Traceback" not in stderr


def test_inputs_are_reported_per_stream_in_the_status(graph, tmp_path, checkpoint):
    robot = Robot(graph, 128, 96, position=[0.0] * 6)
    node = graph.policy_node(tmp_path, checkpoint)
    listener = graph.node("monitor")
    statuses = Inbox(listener, PolicyStatus, "/policy/status")
    graph.spin(listener)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
    assert statuses.wait(newest(lambda s: s.state == PolicyStatus.INACTIVE))
    assert wait_until(lambda: node.ready_to_activate)
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.holding_reason

    def inputs(status) -> dict:
        return {i.topic: i for i in status.inputs}

    assert statuses.wait(newest(lambda s: s.state == PolicyStatus.RUNNING))
    running = inputs(statuses.messages[-1][1])
    assert set(running) == {"/joint_states", "/front/image_raw"}
    for topic in running.values():
        assert topic.received > 0 and topic.dropped == 0 and topic.rate > 0 and 0 <= topic.age < 0.5
    robot.position = [np.nan] * 6  # rejected: counted as dropped, and the stream is unusable
    assert statuses.wait(
        newest(lambda s: inputs(s)["/joint_states"].dropped > 0 and "rejected: non-finite" in s.message)
    )
    robot.publishing = False  # the joint states stop
    assert statuses.wait(newest(lambda s: inputs(s)["/joint_states"].age > 1.0))
    holding = inputs(statuses.messages[-1][1])
    assert holding["/joint_states"].rate == 0 and 0 <= holding["/front/image_raw"].age < 0.5


def test_stale_input_is_said_when_the_hold_begins_then_now_and_then(graph, tmp_path, checkpoint, capfd):
    robot = Robot(graph, 128, 96, position=[0.0] * 6)
    node = graph.policy_node(tmp_path, checkpoint)
    listener = graph.node("monitor")
    statuses = Inbox(listener, PolicyStatus, "/policy/status")
    commands = Inbox(listener, Float64MultiArray, "/test/commands")
    graph.spin(listener)
    activate(node)
    assert statuses.wait(newest(lambda s: s.state == PolicyStatus.RUNNING))
    robot.publishing = False  # the joint states stop: stale after 0.5 s, for every tick from then on
    stopped, ticks = time.monotonic(), len(commands.messages)
    assert commands.wait(lambda m: len(m) >= ticks + 4 * FPS)  # about 4 s of held ticks
    held_for = commands.messages[-1][0] - stopped
    stale = logged(capfd, "holding position: stale input")
    assert 1 <= len(stale) <= 2 + held_for / HOLD_LOG_PERIOD_S, f"{len(stale)} warnings in {held_for:.1f} s"


def test_remote_inference_drives_the_robot_holds_while_the_server_is_away_and_resumes(
    graph, tmp_path, checkpoint
):
    """inference: remote — the same checkpoint behind lerobot-ros-serve's server on localhost."""
    Robot(graph, 128, 96, [0.1] * 6)
    listener = graph.node("controller_stand_in")
    commands = Inbox(listener, Float64MultiArray, "/test/commands")
    statuses = Inbox(listener, PolicyStatus, "/policy/status")
    graph.spin(listener)
    served = ServedCheckpoint(checkpoint, threads=1)
    with ServerThread(served) as server:
        uri = f"ws://127.0.0.1:{server.port}"
        remote = (Parameter("inference", value="remote"), Parameter("server", value=uri))
        node = graph.policy_node(tmp_path, "", extra=remote)  # no checkpoint here: the server has it
        activate(node)
        assert node.policy.type == "act" and node.policy.checkpoint == uri
        running = statuses.wait(newest(lambda s: s.state == PolicyStatus.RUNNING and s.chunks >= 2))
        assert running, node.holding_reason
        assert statuses.messages[-1][1].checkpoint == uri
        port = server.port
    away = statuses.wait(newest(lambda s: s.state == PolicyStatus.HOLDING and "policy server" in s.message))
    assert away, node.holding_reason
    held = len(commands.messages)
    assert commands.wait(lambda m: len(m) > held + 5)  # holding: the measured pose, still commanded
    hold = [m.data for _, m in commands.messages[held:]]
    assert all(np.array_equal(h, hold[0]) for h in hold)
    with ServerThread(served, port=port):
        chunks = statuses.messages[-1][1].chunks
        resumed = statuses.wait(newest(lambda s: s.state == PolicyStatus.RUNNING and s.chunks > chunks))
        assert resumed, node.holding_reason
    node.trigger_deactivate()


def test_remote_inference_without_a_server_refuses_to_configure_saying_why(graph, tmp_path):
    for server, expected in [("", "set the 'server' parameter"), ("ws://127.0.0.1:1", "unavailable")]:
        remote = (Parameter("inference", value="remote"), Parameter("server", value=server))
        node = graph.policy_node(tmp_path, "", extra=remote)
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert expected in node.holding_reason


def test_inference_in_a_process_of_its_own_runs_and_is_stopped_with_the_node(graph, tmp_path, checkpoint):
    Robot(graph, 128, 96, [0.1] * 6)
    listener = graph.node("controller_stand_in")
    statuses = Inbox(listener, PolicyStatus, "/policy/status")
    graph.spin(listener)
    node = graph.policy_node(tmp_path, checkpoint, extra=(Parameter("inference", value="process"),))
    activate(node)
    process = node.inference_process.process
    running = statuses.wait(newest(lambda s: s.state == PolicyStatus.RUNNING and s.chunks >= 2))
    assert running, node.holding_reason
    assert statuses.messages[-1][1].checkpoint == str(checkpoint)
    node.trigger_deactivate()
    node.trigger_cleanup()
    assert process.poll() is not None and node.inference_process is None
