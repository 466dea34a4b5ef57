"""The simulated arm, table and cube: physics stepping, position commands, seeded layouts and task success."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from lerobot_common.config_files import find_config
from lerobot_drivers.commands import check_finite

JOINT_NAMES = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
DEFAULT_SCENE = "sim/so101_cube.xml"
TASKS = ("place", "lift")
# Entries of the sim node's ~/object_state vector, what a tracker on a real arm would report (a mapping's
# joints name them): cube centre and place target relative to the gripper's grasp point (metres, world axes),
# and the cube's grasp yaw (:func:`cube_grasp_yaw`, radians).
OBJECT_STATE_NAMES = (
    "cube_dx", "cube_dy", "cube_dz", "cube_grasp_yaw", "target_dx", "target_dy", "target_dz",
)  # fmt: skip


def cube_grasp_yaw(cube_position: np.ndarray, cube_quat: np.ndarray) -> float:
    """How far (radians, within ±45°) a top-down gripper closing across the line from the arm's base to the
    cube must turn to close across a pair of the cube's vertical faces instead."""
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, np.asarray(cube_quat, dtype=float))
    rotation = rotation.reshape(3, 3)
    side = int(np.argmin(np.abs(rotation[2])))  # a horizontal cube axis, whichever face the cube lies on
    face_yaw = math.atan2(rotation[1, side], rotation[0, side])
    natural = math.atan2(cube_position[1], cube_position[0]) + math.pi / 2  # closing line, wrist unrolled
    quarter = math.pi / 2
    return (face_yaw - natural + quarter / 2) % quarter - quarter / 2


@dataclass
class LayoutRanges:
    """Where seeded layouts put the cube and the place target: polar coordinates around the arm's base
    (metres, radians from the +x axis), inside the reach of a top-down grasp."""

    radius: tuple[float, float] = (0.12, 0.20)
    azimuth: tuple[float, float] = (-0.75, 0.75)
    cube_yaw: tuple[float, float] = (-math.pi / 4, math.pi / 4)
    min_separation: float = 0.07  # cube centre to target centre, so that placing is a real move


@dataclass
class SimConfig:
    """Scene file, randomization and success criteria of :class:`SimArm`."""

    scene: str = ""  # MJCF path; empty: config/sim/so101_cube.xml found by find_config
    seed: int = 0  # seeds the layout sequence of reset() and randomize_cube()
    task: str = "place"  # "place": cube resting on the target, released; "lift": cube held above lift_height
    lift_height: float = 0.05  # metres from the table to the cube's underside
    place_tolerance: float = 0.02  # metres, cube centre to target centre in the table plane
    layout: LayoutRanges = field(default_factory=LayoutRanges)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}: choose one of {', '.join(TASKS)}")


@dataclass(frozen=True)
class Layout:
    """One episode's initial scene: cube position on the table and yaw, place target position."""

    cube_xy: tuple[float, float]
    cube_yaw: float
    target_xy: tuple[float, float]


def load_model(scene: str = "") -> mujoco.MjModel:
    """The MJCF model at ``scene``, or the default scene found by :func:`find_config` when empty."""
    return mujoco.MjModel.from_xml_path(str(Path(scene) if scene else find_config(DEFAULT_SCENE)))


class GraspKinematics:
    """Where the gripper's grasp site is for given joint positions (:data:`JOINT_NAMES` order), from the
    scene's own kinematics, without a simulation: e.g. to measure a policy's reach from its joint states."""

    def __init__(self, scene: str = "", site: str = "grasp") -> None:
        self._model = load_model(scene)
        self._data = mujoco.MjData(self._model)
        self._site = self._model.site(site).id
        self._qpos = np.array([self._model.joint(n).qposadr[0] for n in JOINT_NAMES])

    def grasp_position(self, joints: np.ndarray) -> np.ndarray:
        self._data.qpos[self._qpos] = joints
        mujoco.mj_kinematics(self._model, self._data)
        return self._data.site_xpos[self._site].copy()


class SimArm:
    """MuJoCo model of the SO-101-like arm with a cube; joint order is :data:`JOINT_NAMES`.

    Commands are position setpoints in radians (the gripper too: its revolute joint drives both fingers), held
    until the next command like a forward command controller.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.model = load_model(self.config.scene)
        self.data = mujoco.MjData(self.model)
        self.joint_names = JOINT_NAMES
        missing = [
            n for n in JOINT_NAMES if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_ACTUATOR, n) < 0
        ]
        if missing:
            raise ValueError(
                f"scene {self.config.scene or DEFAULT_SCENE} lacks position actuators for {missing}"
            )
        self._qpos = np.array([self.model.joint(n).qposadr[0] for n in JOINT_NAMES])
        self._dof = np.array([self.model.joint(n).dofadr[0] for n in JOINT_NAMES])
        self._act = np.array([self.model.actuator(n).id for n in JOINT_NAMES])
        self._index = {name: i for i, name in enumerate(JOINT_NAMES)}
        self._cube_qpos = self.model.joint("cube").qposadr[0]
        self._cube_dof = self.model.joint("cube").dofadr[0]
        self._cube_geom = self.model.geom("cube").id
        self.cube_half_size = float(self.model.geom_size[self._cube_geom][2])
        self._finger_geoms = {self.model.geom("left_finger").id, self.model.geom("right_finger").id}
        self._target_mocap = self.model.body("target").mocapid[0]
        self._home = self.model.key("home").id
        self._grasp_site = self.model.site("grasp").id
        self._rng = np.random.default_rng(self.config.seed)
        self._step_debt = 0.0
        self.layout = self._sample_layout()
        self.reset_to(self.layout)

    # -- time and stepping

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def time(self) -> float:
        return float(self.data.time)

    def step(self, n: int = 1) -> None:
        """Advance the physics by ``n`` timesteps."""
        if n > 0:
            mujoco.mj_step(self.model, self.data, nstep=n)

    def advance(self, seconds: float) -> int:
        """Advance by ``seconds`` in whole timesteps, carrying the remainder over; returns the steps taken."""
        exact = seconds / self.timestep + self._step_debt
        n = max(0, int(exact + 1e-9))
        self._step_debt = exact - n
        self.step(n)
        return n

    def step_to(self, time: float) -> int:
        """Step until the simulated time is the whole timestep nearest ``time``; returns the steps taken."""
        n = max(0, round((time - self.time) / self.timestep))
        self.step(n)
        return n

    # -- commands and state

    @property
    def command(self) -> np.ndarray:
        return self.data.ctrl[self._act].copy()

    def set_command(self, positions: Sequence[float]) -> None:
        """Position setpoints in joint order; a non-finite value refuses the whole command (ValueError)."""
        values = np.asarray(positions, dtype=float)
        if values.shape != (len(JOINT_NAMES),):
            raise ValueError(
                f"expected {len(JOINT_NAMES)} positions in the order {', '.join(JOINT_NAMES)}, "
                f"got shape {values.shape}"
            )
        check_finite(dict(zip(JOINT_NAMES, values.tolist(), strict=True)))
        self.data.ctrl[self._act] = self._clip(values)

    def set_command_by_name(self, names: Sequence[str], positions: Sequence[float]) -> list[str]:
        """Setpoints for the named joints only (the others keep theirs); returns the names this arm does not
        have (ignored). A non-finite value refuses the whole command (ValueError)."""
        if len(names) != len(positions):
            raise ValueError(f"{len(names)} joint names but {len(positions)} positions")
        check_finite(dict(zip(names, (float(p) for p in positions), strict=True)))
        command = self.command
        unknown = []
        for name, value in zip(names, positions, strict=True):
            if name in self._index:
                command[self._index[name]] = value
            else:
                unknown.append(name)
        self.set_command(command)
        return unknown

    def _clip(self, values: np.ndarray) -> np.ndarray:
        low, high = self.model.actuator_ctrlrange[self._act].T
        return np.clip(values, low, high)

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._dof].copy()

    def joint_efforts(self) -> np.ndarray:
        """Actuator torques (N·m), the simulated counterpart of a servo's load reading."""
        return self.data.actuator_force[self._act].copy()

    def joint_limits(self) -> np.ndarray:
        """(6, 2) lower and upper limits in joint order, radians."""
        return self.model.jnt_range[[self.model.joint(n).id for n in JOINT_NAMES]].copy()

    def cube_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Cube centre (m) and orientation quaternion (w, x, y, z) in the world frame."""
        qpos = self.data.qpos[self._cube_qpos : self._cube_qpos + 7]
        return qpos[:3].copy(), qpos[3:].copy()

    def target_position(self) -> np.ndarray:
        return self.data.mocap_pos[self._target_mocap].copy()

    def grasp_position(self) -> np.ndarray:
        """The gripper's grasp point (between the fingertips) in the world frame, metres."""
        return self.data.site_xpos[self._grasp_site].copy()

    def object_state(self) -> np.ndarray:
        """What :data:`OBJECT_STATE_NAMES` names, in that order."""
        grasp = self.grasp_position()
        cube, quat = self.cube_pose()
        return np.array([*(cube - grasp), cube_grasp_yaw(cube, quat), *(self.target_position() - grasp)])

    # -- episodes

    def reset(self, seed: int | None = None) -> Layout:
        """Arm to the home pose, cube and target to the next seeded layout (``seed`` restarts the series)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.layout = self._sample_layout()
        self.reset_to(self.layout)
        return self.layout

    def reset_to(self, layout: Layout) -> None:
        """Arm to the home pose and the given layout. Time goes on (clocks and stamps never run backwards)."""
        time = self.data.time
        mujoco.mj_resetDataKeyframe(self.model, self.data, self._home)
        self.data.time = time
        self._step_debt = 0.0
        self.layout = layout
        self._place(layout)

    def randomize_cube(self, seed: int | None = None) -> Layout:
        """New seeded cube and target layout; the arm stays where it is."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.layout = self._sample_layout()
        self._place(self.layout)
        return self.layout

    def _sample_layout(self) -> Layout:
        ranges = self.config.layout
        cube = self._sample_point()
        yaw = float(self._rng.uniform(*ranges.cube_yaw))
        for _ in range(1000):
            target = self._sample_point()
            if math.dist(cube, target) >= ranges.min_separation:
                return Layout(cube_xy=cube, cube_yaw=yaw, target_xy=target)
        raise ValueError(
            f"layout ranges leave no target {ranges.min_separation} m away from the cube: widen them"
        )

    def _sample_point(self) -> tuple[float, float]:
        radius = self._rng.uniform(*self.config.layout.radius)
        azimuth = self._rng.uniform(*self.config.layout.azimuth)
        return float(radius * math.cos(azimuth)), float(radius * math.sin(azimuth))

    def _place(self, layout: Layout) -> None:
        qpos = self.data.qpos
        qpos[self._cube_qpos : self._cube_qpos + 3] = (*layout.cube_xy, self.cube_half_size)
        qpos[self._cube_qpos + 3 : self._cube_qpos + 7] = (
            math.cos(layout.cube_yaw / 2),
            0,
            0,
            math.sin(layout.cube_yaw / 2),
        )
        self.data.qvel[self._cube_dof : self._cube_dof + 6] = 0
        self.data.mocap_pos[self._target_mocap][:2] = layout.target_xy
        mujoco.mj_forward(self.model, self.data)

    # -- success

    def cube_held(self) -> bool:
        """Both fingers touch the cube."""
        touching = set()
        for contact in self.data.contact[: self.data.ncon]:
            pair = {int(contact.geom1), int(contact.geom2)}
            if self._cube_geom in pair:
                touching |= pair & self._finger_geoms
        return touching == self._finger_geoms

    def cube_lifted(self) -> bool:
        position, _ = self.cube_pose()
        return position[2] - self.cube_half_size >= self.config.lift_height

    def cube_placed(self) -> bool:
        """Cube resting on the table within tolerance of the target, and let go of."""
        position, _ = self.cube_pose()
        on_target = math.dist(position[:2], self.target_position()[:2]) <= self.config.place_tolerance
        resting = abs(position[2] - self.cube_half_size) < 0.003
        return on_target and resting and not self.cube_held()

    def success(self) -> bool:
        return self.cube_lifted() if self.config.task == "lift" else self.cube_placed()
