"""Scripted pick-and-place demonstrator for the simulated arm (`ros2 run lerobot_drivers expert`).

Drives the sim through the command topic a teleoperator uses (`arm/joint_commands`, JointState by name,
stamped when the command was computed), so recorded demonstrations look like teleoperated ones. The stamp
matters on simulated time: a recorder can only stamp an unstamped message with the /clock it last received,
10–30 ms late at 3× real time (a policy trained on such a recording succeeded in 10/20 layouts, 18/20 with
stamped commands). Each episode calls
the sim's `sim/reset` (arm home, next seeded layout), then streams one command per control period from
:class:`ScriptedExpert` given `joint_states`, `sim/cube_pose` and `sim/target_pose`, and holds still for
`settle_time` once done. Runs on simulated time with `use_sim_time:=true` when the sim publishes `/clock`.
"""

import sys

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from lerobot_common.conversions import joint_positions_by_name
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import LATCHED_QOS, STATE_QOS
from lerobot_common.ros.run import run_node, spin_until_finished
from lerobot_drivers.ros.conversions import joint_state_msg
from lerobot_drivers.sim.expert import ExpertConfig, ScriptedExpert
from lerobot_drivers.sim.scene import JOINT_NAMES, load_model
from lerobot_msgs.srv import DiscardEpisode, StartEpisode, StopEpisode

PARAMETERS = {
    "scene": ("", "MJCF scene the sim runs (kinematics only); empty: config/sim/so101_cube.xml"),
    "control_rate": (30.0, "commands per second, Hz"),
    "episodes": (0, "episodes to run before exiting; 0 runs until stopped"),
    "episode_timeout": (30.0, "seconds before an episode is given up"),
    "settle_time": (1.0, "seconds to hold still after an episode, before the next reset"),
    "recorder": ("", "episode recorder node (e.g. /recorder) to start and stop with each episode"),
}


class ExpertNode(Node):
    """Runs ``episodes`` scripted episodes against the sim node; :attr:`results` holds each one's success."""

    def __init__(self, **kwargs) -> None:
        super().__init__("expert", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        scene, rate, recorder = p["scene"], p["control_rate"], p["recorder"]
        self._episodes, self._timeout, self._settle = p["episodes"], p["episode_timeout"], p["settle_time"]
        if rate <= 0:
            raise ValueError(f"control_rate must be positive, got {rate}")
        self.expert = ScriptedExpert(load_model(scene), ExpertConfig(control_period=1.0 / rate))
        self.results: list[bool] = []

        self._joints: dict[str, float] | None = None
        self._cube: PoseStamped | None = None
        self._target: PoseStamped | None = None
        self._success = False
        self._stage = "reset"
        self._reset_future: Future | None = None
        self._stage_start = self.get_clock().now()
        self._command: np.ndarray | None = None

        self.create_subscription(JointState, "joint_states", self._on_joints, STATE_QOS)
        self.create_subscription(PoseStamped, "sim/cube_pose", self._on_cube, STATE_QOS)
        self.create_subscription(PoseStamped, "sim/target_pose", self._on_target, STATE_QOS)
        self.create_subscription(Bool, "sim/success", self._on_success, LATCHED_QOS)
        self._commands = self.create_publisher(JointState, "arm/joint_commands", STATE_QOS)
        self._reset = self.create_client(Trigger, "sim/reset")
        # Like a teleoperator at the recorder: start after the reset, keep successes, discard failures.
        self._recorder = (
            {
                "start": self.create_client(StartEpisode, f"{recorder}/start_episode"),
                "stop": self.create_client(StopEpisode, f"{recorder}/stop_episode"),
                "discard": self.create_client(DiscardEpisode, f"{recorder}/discard_episode"),
            }
            if recorder
            else None
        )
        self._recorder_future: Future | None = None
        self._after_episode = "reset"
        self.create_timer(1.0 / rate, self._tick)

    @property
    def finished(self) -> bool:
        return self._stage == "finished"

    def _on_joints(self, msg: JointState) -> None:
        try:
            self._joints = joint_positions_by_name(msg)
        except ValueError as error:
            self.get_logger().warning(f"joint_states ignored: {error}", throttle_duration_sec=5.0)

    def _on_cube(self, msg: PoseStamped) -> None:
        self._cube = msg

    def _on_target(self, msg: PoseStamped) -> None:
        self._target = msg

    def _on_success(self, msg: Bool) -> None:
        self._success = msg.data

    def _enter(self, stage: str) -> None:
        self._stage = stage
        self._stage_start = self.get_clock().now()

    def _elapsed(self) -> float:
        return (self.get_clock().now() - self._stage_start).nanoseconds * 1e-9

    def _tick(self) -> None:
        if self._stage == "reset" and self._reset.service_is_ready():
            self._reset_future = self._reset.call_async(Trigger.Request())
            self._enter("resetting")
        elif self._stage == "resetting" and self._reset_future is not None and self._reset_future.done():
            response = self._reset_future.result()
            self.get_logger().info(f"episode {len(self.results)}: {response.message}")
            # Wait for the state after the reset: what arrived before describes the previous episode.
            self._joints = self._cube = self._target = None
            self.expert.reset()
            self._enter("running" if self._recorder is None else "starting")
        elif self._stage == "starting":
            self._call_recorder("start", next_stage="running")
        elif self._stage == "saving":
            self._call_recorder("stop" if self._success else "discard", next_stage=self._after_episode)
        elif self._stage == "running":
            self._run()
        elif self._stage == "settling":
            self._publish_command()
            if self._elapsed() >= self._settle:
                self._end_episode()

    def _run(self) -> None:
        if self._joints is None or self._cube is None or self._target is None:
            return
        missing = [n for n in JOINT_NAMES if n not in self._joints]
        if missing:
            self.get_logger().error(f"joint_states lacks joints {missing}", throttle_duration_sec=5.0)
            return
        cube = self._cube.pose
        self._command = self.expert.act(
            np.array([self._joints[n] for n in JOINT_NAMES]),
            np.array([cube.position.x, cube.position.y, cube.position.z]),
            np.array([cube.orientation.w, cube.orientation.x, cube.orientation.y, cube.orientation.z]),
            np.array(
                [self._target.pose.position.x, self._target.pose.position.y, self._target.pose.position.z]
            ),
        )
        self._publish_command()
        if self.expert.finished or self._elapsed() > self._timeout:
            self._enter("settling")

    def _publish_command(self) -> None:
        if self._command is not None:
            stamp = self.get_clock().now().to_msg()
            self._commands.publish(joint_state_msg(JOINT_NAMES, self._command, stamp=stamp))

    def _end_episode(self) -> None:
        self.results.append(self._success)
        successes = sum(self.results)
        self.get_logger().info(
            f"episode {len(self.results) - 1}: {'success' if self._success else 'failure'} "
            f"({self.expert.phase.value}, {self.expert.attempts} retries); "
            f"{successes}/{len(self.results)} so far"
        )
        done = self._episodes > 0 and len(self.results) >= self._episodes
        self._after_episode = "finished" if done else "reset"
        self._enter(self._after_episode if self._recorder is None else "saving")

    def _call_recorder(self, service: str, next_stage: str) -> None:
        """Call a recorder service once, then move on when it has answered (or after 10 s without answer)."""
        client = self._recorder[service]
        if self._recorder_future is None:
            if client.service_is_ready():
                self._recorder_future = client.call_async(client.srv_type.Request())
            elif self._elapsed() > 10.0:
                self.get_logger().error(f"recorder service {client.srv_name} is not available")
                self._enter(next_stage)
            return
        if self._recorder_future.done():
            response = self._recorder_future.result()
            log = self.get_logger().info if response.success else self.get_logger().error
            log(f"recorder {service}: {response.message}")
            self._recorder_future = None
            self._enter(next_stage)


def main(argv: list[str] | None = None) -> int:
    errors = (ValueError, FileNotFoundError)
    return run_node(
        "lerobot_drivers expert",
        ExpertNode,
        errors,
        argv,
        spin=spin_until_finished,
        description=__doc__.split("\n\n")[1],
        parameters=PARAMETERS,
        epilog="Set use_sim_time:=true when the sim publishes /clock.",
    )


if __name__ == "__main__":
    sys.exit(main())
