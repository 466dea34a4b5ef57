"""Closed-loop evaluation of a policy on the simulated arm (`ros2 run lerobot_bringup sim_eval`).

For each episode: reset the sim (arm home, next seeded layout), reset and start the policy node, and let it
act until the sim reports success or the episode times out; then stop the policy. Measures success, time and
how close the gripper came to the cube (forward kinematics of the sim's model on the measured joint states),
and writes the first episodes to an MP4: the cameras side by side, scaled to a watchable height, captioned
with the episode, its time and the policy's latest action chunk. Logs and writes the success rate with its
95 % Wilson interval. Talks to the sim and the policy node only through their topics and services, so it
evaluates any policy node driving any sim instance.
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

from lerobot_bringup.rollout import FrameComposer, RolloutVideo, success_text, wilson_interval
from lerobot_common.conversions import image_array, joint_positions_by_name
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import LATCHED_QOS, STATE_QOS
from lerobot_common.ros.run import run_node, spin_until_finished
from lerobot_drivers.sim.scene import JOINT_NAMES, GraspKinematics
from lerobot_msgs.msg import ActionChunk

PARAMETERS = {
    "episodes": (10, "evaluation episodes"),
    "episode_timeout": (20.0, "seconds before an episode counts as a failure"),
    "policy": ("/policy", "policy node whose ~/start, ~/stop and ~/reset services to call"),
    "scene": ("", "MJCF scene the sim runs (kinematics); empty: config/sim/so101_cube.xml"),
    "video_cameras": (
        ["front", "wrist"],
        "cameras side by side in the video, left to right; a frame is made at each image of the first",
    ),
    "video_height": (240, "height of the video's frames, pixels (images are scaled to it, keeping aspect)"),
    "ready_timeout": (120.0, "seconds the sim and policy services may take to accept (checkpoint loading)"),
    "video_path": ("", "MP4 of the first video_episodes episodes; empty: none"),
    "video_episodes": (1, "episodes written to the video"),
    "video_fps": (30, "frame rate of the video (the first camera's)"),
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
        policy, scene = p["policy"], p["scene"]
        self._episodes, self._timeout = p["episodes"], p["episode_timeout"]
        self._ready_timeout = p["ready_timeout"]
        self._video_episodes = p["video_episodes"]
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
        self._composer = FrameComposer(p["video_cameras"], p["video_height"])
        self._video = (
            RolloutVideo(Path(p["video_path"]), p["video_fps"], self._composer) if p["video_path"] else None
        )
        self._chunk: ActionChunk | None = None  # the policy's latest in this episode, for the caption

        self.create_subscription(JointState, "joint_states", self._on_joints, STATE_QOS)
        self.create_subscription(PoseStamped, "sim/cube_pose", self._on_cube, STATE_QOS)
        self.create_subscription(Bool, "sim/success", self._on_success, LATCHED_QOS)
        if self._video is not None:
            for camera in self._composer.cameras:
                self.create_subscription(
                    Image,
                    f"{camera}/image_raw",
                    lambda msg, camera=camera: self._on_image(camera, msg),
                    qos_profile_sensor_data,
                )
            self.create_subscription(ActionChunk, f"{policy}/action_chunk", self._on_chunk, 10)
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
    def successes(self) -> int:
        return sum(o.success for o in self.outcomes)

    @property
    def success_rate(self) -> float:
        return self.successes / max(len(self.outcomes), 1)

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

    def _on_chunk(self, msg: ActionChunk) -> None:
        self._chunk = msg

    def _on_image(self, camera: str, msg: Image) -> None:
        episode = len(self.outcomes)
        if self._video is None or episode >= self._video_episodes:
            return
        self._composer.update(camera, image_array(msg, "sensor_msgs/msg/Image"))
        if self._stage == "running" and camera == self._composer.cameras[0]:
            seconds = self._now() - self._stage_start
            self._video.add(episode, seconds, self._caption(episode, seconds))

    def _caption(self, episode: int, seconds: float) -> list[str]:
        chunk, policy = self._chunk, "no action chunk yet"
        if chunk is not None:
            inference = f"inference {chunk.inference_time * 1e3:.0f} ms"
            policy = f"chunk {chunk.sequence}: {chunk.horizon} actions, {inference}"
        return [f"episode {episode + 1}/{self._episodes}  t {seconds:4.1f} s", policy]

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
            self._joints = self._cube = self._chunk = None
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
            f"{outcome.min_distance * 100:.1f} cm; {self.successes}/{len(self.outcomes)} successes"
        )
        if self._video is not None and len(self.outcomes) == self._video_episodes:
            self._video.close()
        self._enter("stopping")

    def _finish(self) -> None:
        if self._video is not None:
            self._video.close()
        if self._results_path:
            summary = {
                "episodes": len(self.outcomes),
                "successes": self.successes,
                "success_rate": self.success_rate,
                "wilson_95": list(wilson_interval(self.successes, len(self.outcomes))),
                "outcomes": [asdict(o) for o in self.outcomes],
            }
            Path(self._results_path).write_text(json.dumps(summary, indent=2) + "\n")
        self.get_logger().info(success_text(self.successes, len(self.outcomes)))
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
