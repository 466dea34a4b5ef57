"""`ros2 run lerobot_policy_node policy`: a lifecycle node that runs a policy on live observations.

configure: load the checkpoint, check the mapping against its input features, subscribe to the inputs.
activate: start the control loop (one command per tick at the mapping's fps; inference in the background).
deactivate: hold the last safe command. Services ~/start, ~/stop (hold while active), ~/reset.
"""

from __future__ import annotations

import argparse
import threading
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
from lerobot_dataset.mapping import load_mapping
from lerobot_dataset.units import mapping_units
from lerobot_msgs.msg import ActionChunk, PolicyStatus
from lerobot_policy_node.chunks import AGGREGATES, STRATEGY_CHOICES, make_merger, resolve_strategy
from lerobot_policy_node.observation import ObservationBuffer, check_mapping
from lerobot_policy_node.outputs import OUTPUTS, ControllerOutput
from lerobot_policy_node.runner import Chunk, PolicyRunner, TickResult
from lerobot_policy_node.safety import SafetyFilter, SafetyLimits

PARAMETERS = {
    "checkpoint": ("", "pretrained_model folder or Hub repo id of the policy"),
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


class PolicyNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("policy", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.p_checkpoint, self.p_mapping, self.p_device = p["checkpoint"], p["mapping"], p["device"]
        self.p_threads, self.p_staleness = p["inference_threads"], p["staleness"]
        self.p_strategy, self.p_aggregate = p["strategy"], p["aggregate"]
        self.p_request_fraction = p["request_fraction"]
        self.p_output, self.p_command_topic = p["output"], p["command_topic"]
        self.p_output_joints = list(p["output_joints"] or [])
        self.p_lower, self.p_upper = list(p["joint_lower"] or []), list(p["joint_upper"] or [])
        self.p_max_step = p["max_step"]
        self.task = p["task"]
        self.policy = None
        self.runner: PolicyRunner | None = None
        self.output: ControllerOutput | None = None
        self.command_pub = None
        self.timer = None
        self.t0 = 0.0  # time of activation: tick numbers count from it
        self.running = False
        self.holding_reason = "not active"
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
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        from lerobot_policy_node.policy import LoadedPolicy  # torch: only once a checkpoint is asked for

        if not self.p_checkpoint:
            raise ValueError(
                "no checkpoint: set the 'checkpoint' parameter to a pretrained_model folder or Hub id"
            )
        if self.p_strategy not in STRATEGY_CHOICES or self.p_output not in OUTPUTS:
            raise ValueError(
                f"strategy must be one of {STRATEGY_CHOICES} and output one of {sorted(OUTPUTS)}"
            )
        self.policy = LoadedPolicy(self.p_checkpoint, self.p_device, self.p_threads)
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
                f"the mapping '{self.mapping.name}' does not fit {self.p_checkpoint}: " + "; ".join(problems)
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
        for name in self.policy.input_features:
            source = self.mapping.features[name]
            qos = qos_profile_sensor_data if source.is_image else STATE_QOS
            self.subscriptions_.append(
                self.create_subscription(
                    message_class(source.type),
                    source.topic,
                    lambda msg, s=source: self._on_input(s, msg),
                    qos,
                )
            )
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
            self.policy.predict, self.observations, merger,
            SafetyFilter(limits, np.zeros(len(self.action_joints))),
            fps=self.fps, request_threshold=threshold, clock=self._now, observe=self.policy.observe,
        )  # fmt: skip
        self.policy.warm_up()  # the first inference is slow (lazy initialisation); the second is typical
        self.runner.inference_times.append(self.policy.warm_up())
        self.holding_reason = "configured: activate to start"
        self.get_logger().info(
            f"{self.policy.type} policy from {self.p_checkpoint} on {self.policy.device}; {self.fps} Hz, "
            f"{self.strategy} chunks → {self.p_output} on {self.p_command_topic}"
        )

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        position = self._measured_position()
        if position is None:
            self.holding_reason = "cannot activate: no observation.state received yet (is the robot running?)"
            self.get_logger().error(self.holding_reason)
            return TransitionCallbackReturn.FAILURE
        self.runner.reset(position)
        self.policy.reset()
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
        self.command_pub.publish(self.output.hold(self.runner.safety.hold(), self._stamp()))
        self.holding_reason = "deactivated: holding position"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for subscription in self.subscriptions_:
            self.destroy_subscription(subscription)
        self.subscriptions_.clear()
        if self.command_pub is not None:  # a reconfigure makes a new one, maybe of another type or topic
            self.destroy_publisher(self.command_pub)
        if self.runner is not None:
            self.runner.close()
        self.policy = self.runner = self.output = self.command_pub = None
        self.holding_reason = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.runner is not None:
            self.runner.close()
        return TransitionCallbackReturn.SUCCESS

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
            self.get_logger().warning(f"{source.topic}: {error}", throttle_duration_sec=5.0)
            return
        stamp = stamp_ns(msg)
        self.observations.update(source.feature, value, stamp / 1e9 if stamp else received, received)

    @property
    def ready_to_activate(self) -> bool:
        """Configured, and every input has a fresh message: activating now will not be refused (a launcher
        waits for this instead of retrying activation, whose refusal is logged as an error)."""
        return self.runner is not None and self._measured_position() is not None

    def _measured_position(self) -> np.ndarray | None:
        try:
            observation, _ = self.observations.assemble(self._now())
        except RuntimeError:
            return None
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
        if result.holding and result.reason != self.holding_reason:
            self.get_logger().warning(f"holding position: {result.reason}")
        self.holding_reason = result.reason if result.holding else ""
        self.held_while_acting += int(self.acting and result.holding)
        self.acting |= not result.holding
        for event in result.events:
            self.get_logger().warning(event, throttle_duration_sec=2.0)
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
            checkpoint=self.p_checkpoint,
            inference_time=chunk.inference_time,
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self.chunk_pub.publish(msg)

    # -- services and status ---------------------------------------------------------------------------------

    def _on_start(self, request, response: Trigger.Response) -> Trigger.Response:
        if self.runner is None or self.timer is None:
            response.message = "not active: configure and activate the node first"
            return response
        position = self._measured_position()
        if position is not None:
            self.runner.reset(position)
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
        position = self._measured_position()
        self.runner.reset(position if position is not None else self.runner.safety.hold())
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
            checkpoint=self.p_checkpoint,
            task=self.task,
            inference_time=times[-1] if times else 0.0,
            inference_time_p99=float(np.percentile(times, 99)) if times else 0.0,
            period_error_p99=float(np.percentile(self.period_errors, 99)) if self.period_errors else 0.0,
            queue_depth=runner.merger.remaining(round((now - self.t0) * self.fps)) if runner else 0,
            chunks=self.chunks,
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
            hardware_id=self.p_checkpoint,
            values=[
                KeyValue(key=k, value=f"{v:.4f}" if isinstance(v, float) else str(v))
                for k, v in values.items()
            ],
        )
        array = DiagnosticArray(status=[diagnostic])
        array.header.stamp = status.header.stamp
        self.diagnostics_pub.publish(array)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="pretrained_model folder or Hub repo id")
    parser.add_argument("--mapping", help="mapping name or YAML path (default: the checkpoint's own)")
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
        threading.Thread(target=_autostart, args=(node,), daemon=True).start()
    # One executor thread for the timer and the inputs (short callbacks); inference has a thread of its own.
    # More Python threads would only compete for the GIL with the inference thread.
    rclpy.spin(node)


def _stop_inference(node: PolicyNode) -> None:
    if node.runner is not None:
        node.runner.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(
        "lerobot-ros-policy",
        PolicyNode,
        args=argv,
        parameters=PARAMETERS,
        options=_options,
        spin=_spin,
        close=_stop_inference,
        description=(
            "Run a trained policy (ACT, Diffusion, pi0 checkpoint folder or Hub id) on live ROS observations "
            "and stream its actions to a ros2_control controller. A lifecycle node: --autostart configures "
            "and activates it at once; otherwise use `ros2 lifecycle set /policy configure|activate`. "
            "Options are shortcuts for the node's ROS parameters."
        ),
    )


def _autostart(node: PolicyNode) -> None:
    """Configure, then activate once the robot's state has arrived (retrying for up to 30 s)."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if node.ready_to_activate:
            node.trigger_activate()
            return
        time.sleep(0.1)
    node.get_logger().error("no observation.state within 30 s: not activated")
