"""Closed-loop evaluation of a policy on the simulated arm (`ros2 run lerobot_bringup sim_eval`).

For each episode: reset the sim (arm home, next seeded layout), reset and start the policy node, and let it
act until the sim reports success or the episode times out; then stop the policy. Measures success, time and
how close the gripper came to the cube (forward kinematics of the sim's model on the measured joint states),
and writes the first episodes' camera images to an MP4. Talks to the sim and the policy node only through
their topics and services, so it evaluates any policy node driving any sim instance.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from lerobot_common.conversions import image_array, joint_positions_by_name
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import LATCHED_QOS, STATE_QOS
from lerobot_common.ros.run import run_node, spin_until_finished
from lerobot_dataset.video import VideoEncoderConfig, VideoFileEncoder
from lerobot_drivers.sim.scene import JOINT_NAMES, GraspKinematics

PARAMETERS = {
    "episodes": (10, "evaluation episodes"),
    "episode_timeout": (20.0, "seconds before an episode counts as a failure"),
    "policy": ("/policy", "policy node whose ~/start, ~/stop and ~/reset services to call"),
    "scene": ("", "MJCF scene the sim runs (kinematics); empty: config/sim/so101_cube.xml"),
    "video_camera": ("front", "camera whose images go to the video"),
    "ready_timeout": (120.0, "seconds the sim and policy services may take to accept (checkpoint loading)"),
    "video_path": ("", "MP4 of the first video_episodes episodes; empty: none"),
    "video_episodes": (1, "episodes written to the video"),
    "video_fps": (30, "frame rate of the video (the camera's)"),
    "results_path": ("", "JSON file for the outcomes; empty: none"),
}


@dataclass
class EpisodeOutcome:
    episode: int
    success: bool
    seconds: float
    start_distance: float  # gripper to cube when the policy starts, metres
    min_distance: float  # closest the gripper came to the cube, metres


class SimEvaluator(Node):
    """Runs ``episodes`` policy episodes on the sim; :attr:`outcomes` has an :class:`EpisodeOutcome` each."""

    def __init__(self, **kwargs) -> None:
        super().__init__("sim_eval", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        policy, scene, camera = p["policy"], p["scene"], p["video_camera"]
        self._episodes, self._timeout = p["episodes"], p["episode_timeout"]
        self._ready_timeout = p["ready_timeout"]
        self._video_path, self._video_episodes = p["video_path"], p["video_episodes"]
        self._video_fps = p["video_fps"]
        self._results_path = p["results_path"]
        if self._episodes <= 0 or self._timeout <= 0:
            raise ValueError("episodes and episode_timeout must be positive")

        self.kinematics = GraspKinematics(scene)
        self.outcomes: list[EpisodeOutcome] = []
        self._joints: np.ndarray | None = None
        self._cube: np.ndarray | None = None
        self._success = False
        self._stage = "reset"
        self._future: Future | None = None
        self._refusal = ""  # the last refusal's reason, repeated in the timeout error
        self._retry_at = 0.0
        self._stage_start = self._now()
        self._distances: list[float] = []
        self._video: VideoFileEncoder | None = None

        self.create_subscription(JointState, "joint_states", self._on_joints, STATE_QOS)
        self.create_subscription(PoseStamped, "sim/cube_pose", self._on_cube, STATE_QOS)
        self.create_subscription(Bool, "sim/success", self._on_success, LATCHED_QOS)
        if self._video_path:
            self.create_subscription(Image, f"{camera}/image_raw", self._on_image, qos_profile_sensor_data)
        self._trigger_clients = {
            "sim_reset": self.create_client(Trigger, "sim/reset"),
            "reset": self.create_client(Trigger, f"{policy}/reset"),
            "start": self.create_client(Trigger, f"{policy}/start"),
            "stop": self.create_client(Trigger, f"{policy}/stop"),
        }
        self.create_timer(0.05, self._tick)

    @property
    def finished(self) -> bool:
        return self._stage == "finished"

    @property
    def success_rate(self) -> float:
        return sum(o.success for o in self.outcomes) / max(len(self.outcomes), 1)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joints(self, msg: JointState) -> None:
        positions = joint_positions_by_name(msg)
        if all(n in positions for n in JOINT_NAMES):
            self._joints = np.array([positions[n] for n in JOINT_NAMES])

    def _on_cube(self, msg: PoseStamped) -> None:
        self._cube = np.array([msg.pose.position.x, msg.pose.position.y, msg.pose.position.z])

    def _on_success(self, msg: Bool) -> None:
        self._success = msg.data

    def _on_image(self, msg: Image) -> None:
        if self._stage != "running" or len(self.outcomes) >= self._video_episodes:
            return
        image = image_array(msg, "sensor_msgs/msg/Image")
        if self._video is None:
            Path(self._video_path).parent.mkdir(parents=True, exist_ok=True)
            height, width = image.shape[:2]
            self._video = VideoFileEncoder(
                Path(self._video_path), self._video_fps, width, height, VideoEncoderConfig.h264(crf=23)
            )
        self._video.encode(image)

    def _enter(self, stage: str) -> None:
        self._stage = stage
        self._stage_start = self._now()

    def _call(self, service: str, next_stage: str) -> None:
        """Call a service and move on once it has succeeded. A refusal is retried (the policy node refuses
        until it has loaded its checkpoint); no success within ``ready_timeout`` is an error."""
        client = self._trigger_clients[service]
        if self._future is None:
            waited = self._now() - self._stage_start
            if waited > self._ready_timeout:
                raise RuntimeError(
                    f"{client.srv_name} did not succeed within {self._ready_timeout:.0f} s"
                    + (f": {self._refusal}" if self._refusal else ": is the node running?")
                )
            if client.service_is_ready() and self._now() >= self._retry_at:
                self._future = client.call_async(Trigger.Request())
            return
        if not self._future.done():
            return
        response = self._future.result()
        self._future = None
        if not response.success:
            if response.message != self._refusal:
                self.get_logger().info(f"waiting for {client.srv_name}: {response.message}")
            self._refusal, self._retry_at = response.message, self._now() + 0.5
            return
        self._refusal = ""
        if service == "sim_reset":  # what arrived before describes the previous episode
            self._joints = self._cube = None
            self._success = False
        self._enter(next_stage)

    def _tick(self) -> None:
        stage = self._stage
        if stage == "reset":
            self._call("sim_reset", "policy_reset")
        elif stage == "policy_reset":
            self._call("reset", "waiting")
        elif stage == "waiting" and self._joints is not None and self._cube is not None:
            self._distances = [self._distance()]
            self._enter("starting")
        elif stage == "starting":
            self._call("start", "running")
        elif stage == "running":
            self._run()
        elif stage == "stopping":
            self._call("stop", "reset")
            if self._stage == "reset" and len(self.outcomes) >= self._episodes:
                self._finish()

    def _distance(self) -> float:
        return float(np.linalg.norm(self.kinematics.grasp_position(self._joints) - self._cube))

    def _run(self) -> None:
        if self._joints is not None and self._cube is not None:
            self._distances.append(self._distance())
        elapsed = self._now() - self._stage_start
        if not (self._success or elapsed > self._timeout):
            return
        outcome = EpisodeOutcome(
            len(self.outcomes), self._success, elapsed, self._distances[0], min(self._distances)
        )
        self.outcomes.append(outcome)
        self.get_logger().info(
            f"episode {outcome.episode}: {'success' if outcome.success else 'failure'} after "
            f"{outcome.seconds:.1f} s; gripper–cube {outcome.start_distance * 100:.1f} → closest "
            f"{outcome.min_distance * 100:.1f} cm; {sum(o.success for o in self.outcomes)}/"
            f"{len(self.outcomes)} successes"
        )
        if self._video is not None and len(self.outcomes) >= self._video_episodes:
            self._video.close()
            self._video = None
        self._enter("stopping")

    def _finish(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None
        if self._results_path:
            summary = {
                "episodes": len(self.outcomes),
                "success_rate": self.success_rate,
                "outcomes": [asdict(o) for o in self.outcomes],
            }
            Path(self._results_path).write_text(json.dumps(summary, indent=2) + "\n")
        self.get_logger().info(f"success rate {self.success_rate:.0%} over {len(self.outcomes)} episodes")
        self._enter("finished")


def main(argv: list[str] | None = None) -> int:
    return run_node(
        "lerobot_bringup sim_eval",
        SimEvaluator,
        (ValueError, FileNotFoundError),
        argv,
        spin=spin_until_finished,
        description=__doc__.split("\n\n")[1],
        parameters=PARAMETERS,
    )


if __name__ == "__main__":
    sys.exit(main())
