"""`ros2 run lerobot_policy_node policy`: a lifecycle node that runs a policy on live observations.

configure: load the checkpoint, check the mapping against its input features, subscribe to the inputs.
activate: start the control loop (one command per tick at the mapping's fps; inference in the background).
deactivate: hold the last safe command. Services ~/start, ~/stop (hold while active), ~/reset.

Commands start from the robot's measured position (a finite observation.state): none is sent before one has
arrived, after activation, ~/start and ~/reset alike. A camera whose images differ in size from the trained
ones is resized when the aspect ratio is the same and refused otherwise (lerobot_dataset.images).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from std_msgs.msg import String
from std_srvs.srv import Trigger

from lerobot_common.conversions import MessageError, image_array, joint_values, stamp_ns
from lerobot_common.ros.messages import message_class
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import STATE_QOS
from lerobot_common.ros.run import run_node
from lerobot_dataset.images import ImageFormatError, ImageSizeError, check_image
from lerobot_dataset.mapping import load_mapping
from lerobot_dataset.units import mapping_units
from lerobot_msgs.msg import ActionChunk, PolicyStatus, TopicStatistics
from lerobot_policy_node.chunks import AGGREGATES, STRATEGY_CHOICES, make_merger, resolve_strategy
from lerobot_policy_node.observation import ObservationBuffer, StaleObservation, check_mapping
from lerobot_policy_node.outputs import OUTPUTS, ControllerOutput
from lerobot_policy_node.remote.client import (
    API_KEY_ENV,
    IMAGE_ENCODINGS,
    RemotePolicy,
    load_description,
    parse_key_map,
)
from lerobot_policy_node.remote.process import InferenceProcess
from lerobot_policy_node.runner import Chunk, PolicyRunner, TickResult
from lerobot_policy_node.safety import SafetyFilter, SafetyLimits

INFERENCE_CHOICES = ("local", "process", "remote")
PARAMETERS = {
    "checkpoint": ("", "pretrained_model folder or Hub repo id of the policy (inference: local)"),
    "inference": (
        "local",
        f"where the policy runs: one of {list(INFERENCE_CHOICES)}; local: a thread of this process; process: "
        "a process of its own beside this one (the control loop never waits for the model's Python); "
        "remote: a policy server at 'server' (lerobot-ros-serve, or openpi's with key_map and "
        "remote_description)",
    ),
    "server": ("", "ws://host:port of the policy server (inference: remote)"),
    "api_key": ("", f"API key the policy server asks for; empty: ${API_KEY_ENV}, if set"),
    "image_encoding": (
        "raw",
        f"how camera images travel to the policy server: one of {list(IMAGE_ENCODINGS)}",
    ),
    "key_map": (
        Parameter.Type.STRING_ARRAY,
        "feature=key pairs for a server that names its inputs its own way (openpi), e.g. "
        "observation.images.front=observation/image, task=prompt; empty: the feature names",
    ),
    "remote_description": (
        "",
        "YAML file for a server that does not describe itself (openpi): input_features, action_dim, "
        "action_horizon as lerobot-ros-serve's metadata gives them",
    ),
    "mapping": (
        "",
        "mapping name in config/mappings/ or YAML path; empty: the one the checkpoint was trained with",
    ),
    "device": ("", "torch device (cpu, cuda, cuda:1, mps); empty: the checkpoint's"),
    "inference_threads": (0, "CPU threads for inference; 0: all cores but one (the control loop's)"),
    "strategy": (
        "auto",
        f"how chunks are merged: one of {list(STRATEGY_CHOICES)}; auto: rtc for a policy with real-time "
        "chunking enabled (pi0 + rtc_config), ensemble for one with temporal_ensemble_coeff (ACT), "
        "else latency",
    ),
    "aggregate": (
        "weighted_average",
        f"latency strategy: how overlapping chunks are blended, one of {sorted(AGGREGATES)}",
    ),
    "request_fraction": (0.5, "ask for the next chunk when this fraction of a chunk's actions is left"),
    "staleness": (0.5, "seconds after which an input is stale: the node holds position until it is fresh"),
    "output": ("forward", f"how commands reach the controller: one of {sorted(OUTPUTS)}"),
    "command_topic": ("arm/commands", "topic the commands are published on"),
    "output_joints": (
        Parameter.Type.STRING_ARRAY,
        "joints commanded, in this order; empty: the action's joints",
    ),
    "joint_lower": (Parameter.Type.DOUBLE_ARRAY, "lower joint limits, radians, in action order; empty: none"),
    "joint_upper": (Parameter.Type.DOUBLE_ARRAY, "upper joint limits, radians, in action order; empty: none"),
    "max_step": (0.2, "largest change of a joint command from one tick to the next, radians; <= 0: none"),
    "task": ("", "task text for language-conditioned policies; empty: the mapping's"),
}
HOLD_LOG_PERIOD_S = 2.0  # a hold whose reason keeps changing (a stale stream's age) is logged this often
ACTIVATION_WAIT_S = 30.0  # --autostart: how long to wait for every input before giving up


class AutostartError(RuntimeError):
    """--autostart could not bring the node up: the process exits with this reason."""


class PolicyNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("policy", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.p_checkpoint, self.p_mapping, self.p_device = p["checkpoint"], p["mapping"], p["device"]
        self.p_inference, self.p_server, self.p_api_key = p["inference"], p["server"], p["api_key"]
        self.p_image_encoding, self.p_key_map = p["image_encoding"], list(p["key_map"] or [])
        self.p_remote_description = p["remote_description"]
        self.p_threads, self.p_staleness = p["inference_threads"], p["staleness"]
        self.p_strategy, self.p_aggregate = p["strategy"], p["aggregate"]
        self.p_request_fraction = p["request_fraction"]
        self.p_output, self.p_command_topic = p["output"], p["command_topic"]
        self.p_output_joints = list(p["output_joints"] or [])
        self.p_lower, self.p_upper = list(p["joint_lower"] or []), list(p["joint_upper"] or [])
        self.p_max_step = p["max_step"]
        self.task = p["task"]
        self.policy = None
        self.inference_process: InferenceProcess | None = None
        self.runner: PolicyRunner | None = None
        self.output: ControllerOutput | None = None
        self.command_pub = None
        self.timer = None
        self.t0 = 0.0  # time of activation: tick numbers count from it
        self.running = False
        self.holding_reason = "not active"
        self.hold_logged_at = float("-inf")
        self.image_sizes: dict[str, tuple[tuple[int, int], str]] = {}  # camera → (last size, why refused)
        self.input_topics: dict[str, str] = {}  # feature → fully qualified topic
        self.chunks = 0
        self.acting = False  # an action was sent since activation
        self.held_while_acting = 0  # ticks held after the first action: gaps between chunks, stale inputs
        self.period_errors: deque[float] = deque(maxlen=100)
        self.last_tick_time: float | None = None
        self.subscriptions_: list = []
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_subscription(String, "~/task", lambda msg: self._set_task(msg.data), 10)
        self.status_pub = self.create_publisher(PolicyStatus, "~/status", 10)
        self.chunk_pub = self.create_publisher(ActionChunk, "~/action_chunk", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0, self._publish_status)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except Exception as error:  # a checkpoint, mapping or inference failure: refuse, and say why
            self.holding_reason = f"cannot configure: {type(error).__name__}: {error}"
            self.get_logger().error(self.holding_reason)
            self._release_policy()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    @property
    def policy_source(self) -> str:
        """The checkpoint, or the server that serves it."""
        return self.p_server if self.p_inference == "remote" else self.p_checkpoint

    def _load_policy(self):
        """The policy, in this process (torch imported only now) or behind a policy server."""
        if self.p_inference not in INFERENCE_CHOICES:
            raise ValueError(f"inference must be one of {INFERENCE_CHOICES}, got {self.p_inference!r}")
        if self.p_inference == "remote":
            if not self.p_server:
                raise ValueError("inference is remote: set the 'server' parameter (ws://host:port)")
            return RemotePolicy(
                self.p_server,
                api_key=self.p_api_key or os.environ.get(API_KEY_ENV, ""),
                key_map=parse_key_map(self.p_key_map),
                image_encoding=self.p_image_encoding,
                description=load_description(self.p_remote_description)
                if self.p_remote_description
                else None,
            )
        if not self.p_checkpoint:
            raise ValueError(
                "no checkpoint: set the 'checkpoint' parameter to a pretrained_model folder or Hub id"
            )
        if self.p_inference == "process":
            self.inference_process = InferenceProcess(self.p_checkpoint, self.p_device, self.p_threads)
            return RemotePolicy(self.inference_process.address)
        from lerobot_policy_node.policy import LoadedPolicy

        return LoadedPolicy(self.p_checkpoint, self.p_device, self.p_threads)

    def _configure(self) -> None:
        if self.p_strategy not in STRATEGY_CHOICES or self.p_output not in OUTPUTS:
            raise ValueError(
                f"strategy must be one of {STRATEGY_CHOICES} and output one of {sorted(OUTPUTS)}"
            )
        self.policy = self._load_policy()
        ensembles = self.policy.ensemble_coeff is not None
        self.strategy = resolve_strategy(self.p_strategy, self.policy.supports_rtc, ensembles)
        self.policy.use_rtc = self.strategy == "rtc"  # other strategies merge plain chunks themselves
        self.policy.whole_chunks = self.strategy == "ensemble"
        trained = self.policy.trained_mapping
        if not self.p_mapping and trained is None:
            raise ValueError(
                "the checkpoint carries no mapping: set the 'mapping' parameter (config/mappings/)"
            )
        self.mapping = load_mapping(self.p_mapping) if self.p_mapping else trained
        self.policy.task = self.task or self.mapping.task
        inputs, outputs = self.policy.input_features, self.policy.output_features
        problems = check_mapping(self.mapping, inputs, outputs, trained)
        if problems:
            raise ValueError(
                f"the mapping '{self.mapping.name}' does not fit {self.policy.checkpoint}: "
                + "; ".join(problems)
            )
        # The mapping's units (checked against training's above) convert around the policy; ROS keeps radians.
        self.policy.units = mapping_units(self.mapping)
        self.action_joints = list(self.mapping.features["action"].joints)
        self.output_joints = self.p_output_joints or self.action_joints
        missing = sorted(set(self.output_joints) - set(self.action_joints))
        if missing:
            raise ValueError(f"output_joints {missing} are not actions of the policy ({self.action_joints})")
        self.output_order = [self.action_joints.index(j) for j in self.output_joints]
        state = self.mapping.features.get("observation.state")
        if state is None or not set(self.action_joints) <= set(state.joints):
            raise ValueError(
                "the hold position comes from observation.state, which must list every action joint"
            )
        self.state_order = [state.joints.index(j) for j in self.action_joints]
        self.fps = self.mapping.fps
        self.observations = ObservationBuffer(list(self.policy.input_features), self.p_staleness)
        self.image_sizes.clear()
        for name in self.policy.input_features:
            source = self.mapping.features[name]
            qos = qos_profile_sensor_data if source.is_image else STATE_QOS
            subscription = self.create_subscription(
                message_class(source.type), source.topic, lambda msg, s=source: self._on_input(s, msg), qos
            )
            self.subscriptions_.append(subscription)
            self.input_topics[name] = subscription.topic_name
        self.output = OUTPUTS[self.p_output](self.output_joints, self.output_order, self.fps, message_class)
        self.command_pub = self.create_publisher(self.output.message, self.p_command_topic, STATE_QOS)
        limits = SafetyLimits(
            lower=np.array(self.p_lower) if self.p_lower else None,
            upper=np.array(self.p_upper) if self.p_upper else None,
            max_step=self.p_max_step if self.p_max_step > 0 else None,
        )
        merger = make_merger(self.strategy, self.p_aggregate, self.policy.ensemble_coeff)
        threshold = int(self.p_request_fraction * self.policy.chunk_length)
        self.runner = PolicyRunner(
            self.policy.predict, self.observations, merger, SafetyFilter(limits),
            fps=self.fps, request_threshold=threshold, measure=self._position, clock=self._now,
            observe=self.policy.observe,
        )  # fmt: skip
        self.policy.warm_up()  # the first inference is slow (lazy initialisation); the second is typical
        self.runner.inference_times.append(self.policy.warm_up())
        self.holding_reason = "configured: activate to start"
        self.get_logger().info(
            f"{self.policy.type} policy from {self.policy_source} on {self.policy.device}; {self.fps} Hz, "
            f"{self.strategy} chunks → {self.p_output} on {self.p_command_topic}"
        )

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        problem = self.input_problem()
        if problem:
            self.holding_reason = f"cannot activate: {problem}"
            self.get_logger().error(self.holding_reason)
            return TransitionCallbackReturn.FAILURE
        self.runner.reset()  # the first command starts from the state measured on the first tick
        self.policy.reset()
        self.observations.restart_statistics()
        self.t0 = self._now()
        self.last_tick_time = None
        self.acting, self.held_while_acting = False, 0
        self.running = True
        self.timer = self.create_timer(1.0 / self.fps, self._control_tick)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.running = False
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        held = self.runner.safety.hold()
        if held is not None:  # else nothing was commanded since activation: the controller keeps its setpoint
            self.command_pub.publish(self.output.hold(held, self._stamp()))
        self.holding_reason = "deactivated: holding position"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for subscription in self.subscriptions_:
            self.destroy_subscription(subscription)
        self.subscriptions_.clear()
        self.input_topics.clear()
        if self.command_pub is not None:  # a reconfigure makes a new one, maybe of another type or topic
            self.destroy_publisher(self.command_pub)
        self._release_policy()
        self.output = self.command_pub = None
        self.holding_reason = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_policy()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self._release_policy()  # its inference thread (and process) outlive the node otherwise
        super().destroy_node()

    def _release_policy(self) -> None:
        if self.runner is not None:
            self.runner.close()
        if isinstance(self.policy, RemotePolicy):
            self.policy.close()
        if self.inference_process is not None:
            self.inference_process.close()
        self.policy = self.runner = self.inference_process = None

    # -- inputs ----------------------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def _on_input(self, source, msg) -> None:
        received = self._now()
        try:
            value = (
                image_array(msg, source.type)
                if source.is_image
                else joint_values(msg, source.type, source.joints)
            )
        except MessageError as error:
            self.observations.reject(source.feature, str(error), received)
            self.get_logger().warning(f"{source.topic}: {error}", throttle_duration_sec=5.0)
            return
        refused = self._image_size_refusal(source.feature, value) if source.is_image else ""
        if refused:
            self.observations.reject(source.feature, refused, received)
            return
        stamp = stamp_ns(msg)
        rejected = self.observations.update(
            source.feature, value, stamp / 1e9 if stamp else received, received
        )
        if rejected:
            self.get_logger().warning(f"{source.topic}: {rejected}: ignored", throttle_duration_sec=5.0)

    def _image_size_refusal(self, feature: str, image: np.ndarray) -> str:
        """Why ``feature``'s image cannot be used at its size (empty: it can, resized or not); the verdict is
        logged once per camera and size."""
        size = tuple(image.shape[:2])
        known = self.image_sizes.get(feature)
        if known is not None and known[0] == size:
            return known[1]
        trained = tuple(self.policy.input_features[feature]["shape"])  # channel-first
        try:
            refused = ""
            if check_image(feature, image, trained):
                self.get_logger().info(
                    f"camera '{feature}': {size[1]}×{size[0]} images are resized to "
                    f"{trained[2]}×{trained[1]}, the size the policy was trained on"
                )
        except (ImageFormatError, ImageSizeError) as error:
            refused = str(error)
            self.get_logger().error(refused)
        self.image_sizes[feature] = (size, refused)
        return refused

    @property
    def ready_to_activate(self) -> bool:
        """Configured, and every input has a fresh message: activating now will not be refused (a launcher
        waits for this instead of retrying activation, whose refusal is logged as an error)."""
        return self.runner is not None and not self.input_problem()

    def input_problem(self) -> str:
        """Why the inputs cannot be acted on now: missing, stale or rejected streams (empty: they can)."""
        try:
            self.observations.assemble(self._now())
        except StaleObservation as stale:
            return str(stale)
        return ""

    def _position(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The robot's measured position in an observation, in action order."""
        return np.asarray(observation["observation.state"])[self.state_order]

    def _set_task(self, task: str) -> None:
        self.task = task
        if self.policy is not None:
            self.policy.task = task

    # -- control loop ----------------------------------------------------------------------------------------

    def _control_tick(self) -> None:
        now = self._now()
        if self.last_tick_time is not None:
            self.period_errors.append(abs(now - self.last_tick_time - 1.0 / self.fps))
        self.last_tick_time = now
        tick = round((now - self.t0) * self.fps)
        if not self.running:
            # Stopped: silent. The controller keeps its last setpoint, and whatever commands the arm now (a
            # reset, a teleoperator) is not fought by a stream of old hold commands.
            if self.holding_reason != "stopped (call ~/start)":
                self.get_logger().info("stopped: not commanding until ~/start")
            self.holding_reason = "stopped (call ~/start)"
            return
        result = self.runner.tick(tick)
        if result.new_chunk is not None:
            self._publish_chunk(result.new_chunk)
        # A hold is logged at once when it begins; a reason that keeps changing (a stale stream's age) now
        # and then (seen: 793 warnings in 2.5 min).
        if (
            result.holding
            and result.reason != self.holding_reason
            and (not self.holding_reason or now - self.hold_logged_at >= HOLD_LOG_PERIOD_S)
        ):
            self.get_logger().warning(f"holding position: {result.reason}")
            self.hold_logged_at = now
        self.holding_reason = result.reason if result.holding else ""
        self.held_while_acting += int(self.acting and result.holding)
        self.acting |= not result.holding
        for event in result.events:
            self.get_logger().warning(event, throttle_duration_sec=2.0)
        if result.command is None:
            return  # no measured position yet: the node never commands a pose it has not seen
        message = self.output.tick(
            result.command,
            lambda: self._planned(tick, result),
            result.new_chunk is not None,
            result.holding,
            self._stamp(),
        )
        if message is not None:
            self.command_pub.publish(message)

    def _stamp(self):
        return self.get_clock().now().to_msg()

    def _planned(self, tick: int, result: TickResult) -> np.ndarray:
        """This tick's command and the queued actions after it, each safety-filtered from the one before."""
        planned = [result.command]
        for step in self.runner.merger.pending(tick + 1):
            planned.append(self.runner.safety.preview(planned[-1], step)[0])
        return np.asarray(planned)

    def _publish_chunk(self, chunk: Chunk) -> None:
        self.chunks += 1
        msg = ActionChunk(
            observation_stamp=Time(nanoseconds=int(chunk.observation_stamp * 1e9)).to_msg(),
            sequence=chunk.sequence,
            joint_names=self.action_joints,
            control_period=1.0 / self.fps,
            horizon=len(chunk.actions),
            positions=[float(v) for v in np.asarray(chunk.actions).ravel()],
            policy_type=self.policy.type,
            checkpoint=self.policy_source,
            inference_time=chunk.inference_time,
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self.chunk_pub.publish(msg)

    # -- services and status ---------------------------------------------------------------------------------

    def _on_start(self, request, response: Trigger.Response) -> Trigger.Response:
        if self.runner is None or self.timer is None:
            response.message = "not active: configure and activate the node first"
            return response
        self.runner.reset()  # the arm may have been moved while stopped: start from where it is now
        self.running = response.success = True
        response.message = "running"
        return response

    def _on_stop(self, request, response: Trigger.Response) -> Trigger.Response:
        self.running = False
        response.success, response.message = True, "stopped: not commanding (the controller holds)"
        return response

    def _on_reset(self, request, response: Trigger.Response) -> Trigger.Response:
        if self.runner is None:
            response.message = "not configured"
            return response
        self.runner.reset()
        self.policy.reset()
        response.success, response.message = True, "chunks and policy state cleared"
        return response

    def _publish_status(self) -> None:
        now = self._now()
        runner = self.runner
        times = list(runner.inference_times) if runner else []
        state = PolicyStatus.UNCONFIGURED if runner is None else PolicyStatus.INACTIVE
        if runner is not None and self.timer is not None:
            state = PolicyStatus.HOLDING if self.holding_reason else PolicyStatus.RUNNING
        status = PolicyStatus(
            state=state,
            policy_type=self.policy.type if self.policy else "",
            checkpoint=self.policy_source,
            task=self.task,
            inference_time=times[-1] if times else 0.0,
            inference_time_p99=float(np.percentile(times, 99)) if times else 0.0,
            period_error_p99=float(np.percentile(self.period_errors, 99)) if self.period_errors else 0.0,
            queue_depth=runner.merger.remaining(round((now - self.t0) * self.fps)) if runner else 0,
            chunks=self.chunks,
            inputs=self._input_statistics(now),
            message=self.holding_reason,
        )
        status.header.stamp = self.get_clock().now().to_msg()
        self.status_pub.publish(status)
        level = DiagnosticStatus.OK if state == PolicyStatus.RUNNING else DiagnosticStatus.WARN
        values = {
            "inference time p99 (s)": status.inference_time_p99,
            "period error p99 (s)": status.period_error_p99,
            "queue depth": status.queue_depth,
            "chunks": status.chunks,
            "ticks held after the first action": self.held_while_acting,
        }
        diagnostic = DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: policy",
            message=self.holding_reason or "running",
            hardware_id=self.policy_source,
            values=[
                KeyValue(key=k, value=f"{v:.4f}" if isinstance(v, float) else str(v))
                for k, v in values.items()
            ],
        )
        array = DiagnosticArray(status=[diagnostic])
        array.header.stamp = status.header.stamp
        self.diagnostics_pub.publish(array)

    def _input_statistics(self, now: float) -> list[TopicStatistics]:
        topics = dict(self.input_topics)  # a cleanup (a lifecycle call from another thread) may empty it
        if self.runner is None or not topics:
            return []
        return [
            TopicStatistics(topic=topics[f], **dataclasses.asdict(s))
            for f, s in self.observations.statistics(now).items()
            if f in topics
        ]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="pretrained_model folder or Hub repo id")
    parser.add_argument("--mapping", help="mapping name or YAML path (default: the checkpoint's own)")
    parser.add_argument(
        "--inference", choices=INFERENCE_CHOICES, help="local (default), or remote: on --server"
    )
    parser.add_argument("--server", help="ws://host:port of a policy server (lerobot-ros-serve) for remote")
    parser.add_argument(
        "--output",
        choices=sorted(OUTPUTS),
        help="how commands reach the controller (default forward): "
        + "; ".join(f"{name}: {cls.description}" for name, cls in sorted(OUTPUTS.items())),
    )
    parser.add_argument("--command-topic", help="where commands go (default arm/commands)")
    parser.add_argument(
        "--strategy",
        choices=STRATEGY_CHOICES,
        help="how chunks are merged (default auto: rtc for flow policies with RTC enabled, ensemble for a "
        "checkpoint with temporal_ensemble_coeff, else latency)",
    )
    parser.add_argument("--task", help="task text for language-conditioned policies")
    parser.add_argument("--autostart", action="store_true", help="configure and activate at start")


def _spin(node: PolicyNode, options: argparse.Namespace) -> None:
    if options.autostart:
        _autostart(node)
    # One executor thread for the timer and the inputs (short callbacks); inference has a thread of its own.
    # More Python threads would only compete for the GIL with the inference thread.
    rclpy.spin(node)


def main(argv: list[str] | None = None) -> int:
    return run_node(
        "lerobot-ros-policy",
        PolicyNode,
        args=argv,
        parameters=PARAMETERS,
        options=_options,
        errors=(AutostartError,),
        spin=_spin,
        description=(
            "Run a trained policy (ACT, Diffusion, pi0 checkpoint folder or Hub id) on live ROS observations "
            "and stream its actions to a ros2_control controller. A lifecycle node: --autostart configures "
            "and activates it at once; otherwise use `ros2 lifecycle set /policy configure|activate`. "
            "Options are shortcuts for the node's ROS parameters."
        ),
    )


def _autostart(node: PolicyNode) -> None:
    """Configure, then activate once every input has arrived (spinning for up to ACTIVATION_WAIT_S): run or
    fail, raising AutostartError with the reason (the process exits non-zero)."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        raise AutostartError(node.holding_reason)
    deadline = time.monotonic() + ACTIVATION_WAIT_S
    while not node.ready_to_activate:
        if time.monotonic() >= deadline:
            raise AutostartError(f"not activated after {ACTIVATION_WAIT_S:.0f} s: {node.input_problem()}")
        rclpy.spin_once(node, timeout_sec=0.1)
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise AutostartError(node.holding_reason)
