"""`ros2 run lerobot_drivers sim`: the simulated SO-101-like arm with cameras, on the real arm's topics.

Publishes `joint_states` (radians), `<camera>/image_raw` (rgb8) + `<camera>/camera_info` (SensorData QoS), the
cube and target poses (`~/cube_pose`, `~/target_pose`; both also relative to the gripper, with the cube's
grasp yaw, on `~/object_state` for policies given the scene's state: a JointState whose names are
sim.scene.OBJECT_STATE_NAMES, because ROS has no stamped array and a recorder on simulated time can stamp an
unstamped message only with the /clock it last received, 10–30 ms late at 3× real time) and
the task's success (`~/success`, latched), and per camera the achieved frame rate on `/diagnostics` (WARN when
rendering cannot keep up with `camera_rate`); takes position commands on `arm/commands` (Float64MultiArray in
joint order, like a forward command controller) and
`arm/joint_commands` (JointState by name, like topic_based_ros2_control), and refuses a command with a NaN or
infinite value whole (with a throttled warning); services `~/reset` (arm home, next
seeded layout) and `~/randomize_cube` (next seeded layout, arm stays). With `publish_clock` the node stamps
with simulated time and publishes `/clock`, so other nodes can run with `use_sim_time` at any speed.

Physics and rendering run in a thread of their own that owns the OpenGL context; ROS callbacks run in the
executor and reach the simulation under a lock.
"""

import argparse
import math
import signal
import sys
import threading
import time

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Pose, PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import uninstall_signal_handlers
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, Header
from std_srvs.srv import Trigger

from lerobot_common.conversions import joint_positions_by_name
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import CLOCK_QOS, COMMAND_QOS, LATCHED_QOS, STATE_QOS
from lerobot_common.ros.run import run_node
from lerobot_drivers.ros.conversions import (
    camera_info_msg,
    image_msg,
    joint_state_msg,
    stamp_from_seconds,
)
from lerobot_drivers.sim.rate import RateMeter
from lerobot_drivers.sim.render import CameraRenderer, RenderBackendError
from lerobot_drivers.sim.scene import OBJECT_STATE_NAMES, TASKS, Layout, SimArm, SimConfig

START_TIMEOUT = 60.0  # seconds for the simulation thread to load the scene and open its renderer
SIGNAL_CHECK_PERIOD = 0.1  # seconds between two looks at a pending Ctrl-C while spinning
RATE_WINDOW = 2.0  # seconds of frames the achieved camera rate is measured over
RATE_MARGIN = 0.9  # a camera below this share of camera_rate is a WARN in the diagnostics

PARAMETERS = {
    "scene": ("", "MJCF scene file; empty: config/sim/so101_cube.xml"),
    "seed": (0, "seed of the cube/target layout sequence (deterministic episodes)"),
    "task": ("place", f"success criterion: {' or '.join(TASKS)}"),
    "joint_state_rate": (100.0, "joint_states and poses, Hz"),
    "camera_rate": (30.0, "images per second per camera; 0 disables"),
    "cameras": (["front", "wrist"], "MJCF cameras to publish"),
    # What the demos record (act_sim_vision.yaml trains on it at 64×48): rendering 640×480 takes most of a
    # CPU core per camera, and a loaded machine then delivers a few frames per second, not 30.
    "image_width": (128, "image width, pixels"),
    "image_height": (96, "image height, pixels"),
    "publish_clock": (False, "stamp with simulated time and publish /clock (use_sim_time)"),
    "real_time_factor": (
        1.0,
        "simulated seconds per wall second; <= 0 runs as fast as possible (needs publish_clock)",
    ),
    "diagnostics_period": (1.0, "seconds between /diagnostics messages (achieved camera rates)"),
}


class SimNode(Node):
    """ROS shell over :class:`SimArm` and :class:`CameraRenderer`; call :meth:`start` after construction."""

    def __init__(self, **kwargs) -> None:
        super().__init__("sim", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        scene, seed, task = p["scene"], p["seed"], p["task"]
        self._joint_rate, self._camera_rate = p["joint_state_rate"], p["camera_rate"]
        self._cameras = list(p["cameras"])
        width, height = p["image_width"], p["image_height"]
        self._publish_clock, self._speed = p["publish_clock"], p["real_time_factor"]
        if not self._publish_clock and self._speed != 1.0:
            raise ValueError(
                "real_time_factor other than 1 needs publish_clock:=true (stamps are wall time otherwise)"
            )
        if self._joint_rate <= 0:
            raise ValueError(f"joint_state_rate must be positive, got {self._joint_rate}")
        if self._camera_rate <= 0:
            self._cameras = []
        self._image_size = (int(width), int(height))
        if p["diagnostics_period"] <= 0:
            raise ValueError(f"diagnostics_period must be positive, got {p['diagnostics_period']}")
        # Measured on the stamps' clock (simulated time with publish_clock): the rate a recording sees.
        self._meters = {c: RateMeter(RATE_WINDOW) for c in self._cameras}
        self._skipped = 0  # camera frames not rendered because the physics would have fallen behind

        self.sim = SimArm(SimConfig(scene=scene, seed=int(seed), task=task))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._success: bool | None = None
        # Wall time at which the simulation was at _sim_anchor: pacing and frame dropping measure from here.
        self._wall_anchor = self._sim_anchor = 0.0

        self._joint_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self._cube_pub = self.create_publisher(PoseStamped, "~/cube_pose", STATE_QOS)
        self._target_pub = self.create_publisher(PoseStamped, "~/target_pose", STATE_QOS)
        self._objects_pub = self.create_publisher(JointState, "~/object_state", STATE_QOS)
        self._success_pub = self.create_publisher(Bool, "~/success", LATCHED_QOS)
        self._clock_pub = self.create_publisher(Clock, "/clock", CLOCK_QOS) if self._publish_clock else None
        self._image_pubs = {
            c: self.create_publisher(Image, f"{c}/image_raw", qos_profile_sensor_data) for c in self._cameras
        }
        self._info_pubs = {
            c: self.create_publisher(CameraInfo, f"{c}/camera_info", qos_profile_sensor_data)
            for c in self._cameras
        }
        self.create_subscription(Float64MultiArray, "arm/commands", self._on_commands, COMMAND_QOS)
        self.create_subscription(JointState, "arm/joint_commands", self._on_joint_commands, COMMAND_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(Trigger, "~/randomize_cube", self._on_randomize)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", STATE_QOS)
        if self._cameras:
            self.create_timer(p["diagnostics_period"], self._publish_diagnostics)

    # -- lifecycle

    def start(self) -> None:
        """Start the simulation thread; raises what stopped it from starting (e.g. RenderBackendError)."""
        self._thread = threading.Thread(target=self._run, name="sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError(f"the simulation did not start within {START_TIMEOUT:.0f} s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    # -- callbacks (executor thread)

    def _on_commands(self, msg: Float64MultiArray) -> None:
        try:
            with self._lock:
                self.sim.set_command(msg.data)
        except ValueError as error:
            self.get_logger().warning(f"arm/commands ignored: {error}", throttle_duration_sec=5.0)

    def _on_joint_commands(self, msg: JointState) -> None:
        try:
            positions = joint_positions_by_name(msg)
            with self._lock:
                unknown = self.sim.set_command_by_name(list(positions), list(positions.values()))
        except ValueError as error:
            self.get_logger().warning(f"arm/joint_commands ignored: {error}", throttle_duration_sec=5.0)
            return
        if unknown:
            self.get_logger().warning(
                f"arm/joint_commands: no joints named {unknown}; this arm has {list(self.sim.joint_names)}",
                throttle_duration_sec=5.0,
            )

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            layout = self.sim.reset()
        response.success, response.message = True, f"arm at home; {_describe_layout(layout)}"
        return response

    def _on_randomize(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            layout = self.sim.randomize_cube()
        response.success, response.message = True, _describe_layout(layout)
        return response

    # -- simulation thread

    def _run(self) -> None:
        renderer = None
        try:
            if self._cameras:
                # The OpenGL context belongs to the thread that creates it: this one renders.
                renderer = CameraRenderer(self.sim.model, self._cameras, *self._image_size)
        except (RenderBackendError, ValueError) as error:
            self._error = error
        self._ready.set()
        if self._error is not None:
            return
        try:
            self._loop(renderer)
        finally:
            if renderer is not None:
                renderer.close()

    def _loop(self, renderer: CameraRenderer | None) -> None:
        joint_period = 1.0 / self._joint_rate
        camera_period = 1.0 / self._camera_rate if renderer else math.inf
        with self._lock:
            next_joint = self._sim_anchor = self.sim.time
        next_camera = next_joint if renderer else math.inf
        self._wall_anchor = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                self.sim.step_to(min(next_joint, next_camera))
                now = self.sim.time
                stamp = self._stamp(now)
                if now >= next_joint - 0.5 * self.sim.timestep:
                    self._publish_state(stamp)
                    next_joint += joint_period
                if self._clock_pub is not None:
                    self._clock_pub.publish(Clock(clock=stamp))
            if renderer is not None and now >= next_camera - 0.5 * self.sim.timestep:
                next_camera += camera_period
                if not self._behind(now, camera_period):
                    self._publish_images(renderer, stamp, now)
                else:
                    self._skipped += 1
            self._pace(min(next_joint, next_camera))

    def _rate_clock(self, sim_time: float) -> float:
        return sim_time if self._publish_clock else time.monotonic()

    def _stamp(self, sim_time: float) -> Time:
        return stamp_from_seconds(sim_time) if self._publish_clock else self.get_clock().now().to_msg()

    def _behind(self, sim_time: float, camera_period: float) -> bool:
        """In wall-clock mode, whether rendering now would make the physics fall behind: drop the frame then,
        as a real camera would, rather than slow the world down. With simulated time nothing is dropped."""
        if self._publish_clock:
            return False
        return time.monotonic() - self._wall_time(sim_time) > 0.5 * camera_period

    def _wall_time(self, sim_time: float) -> float:
        return self._wall_anchor + (sim_time - self._sim_anchor) / self._speed

    def _pace(self, next_event: float) -> None:
        if self._speed <= 0:
            return
        delay = self._wall_time(next_event) - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        elif delay < -1.0:
            # More than a second late (paused, overloaded): go on from now rather than catch up in a burst.
            self._wall_anchor, self._sim_anchor = time.monotonic(), next_event

    def _publish_state(self, stamp: Time) -> None:
        sim = self.sim
        self._joint_pub.publish(
            joint_state_msg(
                sim.joint_names, sim.joint_positions(), sim.joint_velocities(), sim.joint_efforts(), stamp
            )
        )
        cube, quat = sim.cube_pose()
        self._cube_pub.publish(_pose_msg(cube, quat, stamp))
        self._target_pub.publish(_pose_msg(sim.target_position(), np.array([1.0, 0.0, 0.0, 0.0]), stamp))
        self._objects_pub.publish(joint_state_msg(OBJECT_STATE_NAMES, sim.object_state(), stamp=stamp))
        success = sim.success()
        if success != self._success:
            self._success = success
            self._success_pub.publish(Bool(data=success))

    def _publish_images(self, renderer: CameraRenderer, stamp: Time, sim_time: float) -> None:
        for camera in renderer.cameras:
            with self._lock:  # the scene snapshot reads the state; drawing it does not
                renderer.update_scene(self.sim.data, camera)
            pixels = renderer.draw()
            frame = f"{camera}_color_optical_frame"  # the camera node's convention
            self._image_pubs[camera].publish(image_msg(pixels, stamp, frame))
            intrinsics = renderer.intrinsics(camera)
            self._info_pubs[camera].publish(
                camera_info_msg(intrinsics.width, intrinsics.height, intrinsics.matrix(), stamp, frame)
            )
            with self._lock:
                self._meters[camera].tick(self._rate_clock(sim_time))

    # -- diagnostics (executor thread)

    def _publish_diagnostics(self) -> None:
        with self._lock:
            now = self._rate_clock(self.sim.time)
            rates = {camera: meter.rate(now) for camera, meter in self._meters.items()}
            published = {camera: meter.count for camera, meter in self._meters.items()}
            skipped = self._skipped
        width, height = self._image_size
        statuses = []
        for camera, rate in rates.items():
            level, message = DiagnosticStatus.OK, f"{rate or 0.0:.1f} Hz of {self._camera_rate:g} Hz"
            if rate is None:
                message = f"measuring the frame rate (over {RATE_WINDOW:g} s)"
            elif rate < RATE_MARGIN * self._camera_rate:
                level = DiagnosticStatus.WARN
                message += (
                    f": rendering {width}×{height} cannot keep up on this machine; lower image_width/"
                    "image_height or camera_rate (a recording at the dataset's fps would miss frames)"
                )
            values = {
                "rate_hz": "" if rate is None else f"{rate:.2f}",
                "target_hz": f"{self._camera_rate:g}",
                "width": str(width),
                "height": str(height),
                "frames_published": str(published[camera]),
                "frames_skipped": str(skipped),  # a skipped frame is skipped for every camera
            }
            statuses.append(
                DiagnosticStatus(
                    level=level,
                    name=f"{self.get_fully_qualified_name()}: {camera} camera",
                    message=message,
                    hardware_id="sim",
                    values=[KeyValue(key=k, value=v) for k, v in values.items()],
                )
            )
        self._diagnostics_pub.publish(
            DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=statuses)
        )


def _pose_msg(position: np.ndarray, quat: np.ndarray, stamp: Time) -> PoseStamped:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z = (float(v) for v in quat)
    return PoseStamped(header=Header(stamp=stamp, frame_id="world"), pose=pose)


def _describe_layout(layout: Layout) -> str:
    (cx, cy), (tx, ty) = layout.cube_xy, layout.target_xy
    return f"cube at ({cx:.3f}, {cy:.3f}) m, yaw {layout.cube_yaw:.3f} rad; target at ({tx:.3f}, {ty:.3f}) m"


def main(argv: list[str] | None = None) -> int:
    errors = (RenderBackendError, ValueError, FileNotFoundError)
    return run_node(
        "lerobot_drivers sim",
        SimNode,
        errors,
        argv,
        spin=_start_and_spin,
        close=SimNode.stop,
        description=__doc__.split("\n\n")[1],
        parameters=PARAMETERS,
        epilog="Headless rendering picks MUJOCO_GL=egl or osmesa; set MUJOCO_GL to choose.",
    )


def _start_and_spin(node: SimNode, options: argparse.Namespace) -> None:
    # rclpy's Ctrl-C handler shuts the context down from a thread of its own while the simulation thread may
    # be publishing ("publisher's context is invalid"). Ctrl-C (and SIGTERM) raise KeyboardInterrupt here
    # instead, so that run_node stops and joins the simulation thread (close) before it shuts ROS down.
    uninstall_signal_handlers()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    node.start()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while True:
        executor.spin_once(timeout_sec=SIGNAL_CHECK_PERIOD)  # returns now and then: Python sees the signal


if __name__ == "__main__":
    sys.exit(main())
