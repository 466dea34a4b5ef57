"""Scripted pick-and-place expert: (joint positions, cube pose, target) → next joint position command.

The gripper's grasp point follows a Cartesian waypoint sequence (hover over the cube, descend, close, lift,
carry over the target, lower, open, retreat) at a bounded speed, pointing straight down with the fingers
square to the cube; damped least-squares inverse kinematics on MuJoCo's site Jacobian turns each intermediate
pose into joint setpoints. Commands are streamed one per control period, as a teleoperator's leader arm would.
"""

import enum
import math
from dataclasses import dataclass

import mujoco
import numpy as np

from lerobot_drivers.sim.scene import JOINT_NAMES, SimArm, cube_grasp_yaw


class Phase(enum.Enum):
    APPROACH = "approach"
    DESCEND = "descend"
    CLOSE = "close"
    LIFT = "lift"
    CARRY = "carry"
    LOWER = "lower"
    RELEASE = "release"
    RETREAT = "retreat"
    DONE = "done"
    FAILED = "failed"


@dataclass
class ExpertConfig:
    """Timing, heights and IK settings of :class:`ScriptedExpert` (metres, radians, seconds)."""

    control_period: float = 1 / 30
    linear_speed: float = 0.15  # of the commanded grasp point
    angular_speed: float = 2.0
    hover_height: float = 0.06  # grasp point above the cube centre before descending and after releasing
    grasp_height: float = 0.004  # grasp point above the cube centre when closing: fingertips clear the table
    carry_height: float = 0.07  # cube centre above the table while carrying
    place_clearance: float = 0.004  # cube underside above the table when opening
    gripper_open: float = 1.0
    gripper_closed: float = -0.17  # below the cube's width: the servo squeezes with its force limit
    gripper_seconds: float = 0.5
    tolerance: float = 0.008  # measured grasp point to waypoint before moving on
    held_distance: float = 0.03  # cube centre to grasp point while the cube is held
    phase_timeout: float = 5.0
    max_attempts: int = 3
    ik_iterations: int = 10
    ik_damping: float = 0.02
    orientation_weight: float = 0.1  # metres per radian when trading orientation against position error


class ScriptedExpert:
    """Stateful controller of one episode at a time: :meth:`reset`, then :meth:`act` every control period."""

    def __init__(
        self, model: mujoco.MjModel, config: ExpertConfig | None = None, site: str = "grasp"
    ) -> None:
        self.config = config or ExpertConfig()
        self._model = model
        self._data = mujoco.MjData(model)  # scratch state for kinematics only
        self._site = model.site(site).id
        joints = [model.joint(n) for n in JOINT_NAMES]
        self._qpos = np.array([j.qposadr[0] for j in joints])
        self._dofs = np.array([j.dofadr[0] for j in joints[:5]])
        self._low, self._high = model.jnt_range[[j.id for j in joints[:5]]].T
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self.reset()

    def reset(self) -> None:
        """Start a new episode (the next :meth:`act` takes the current joint positions as its start)."""
        self.phase = Phase.APPROACH
        self.attempts = 0
        self._command: np.ndarray | None = None
        self._pose_pos = np.zeros(3)
        self._pose_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self._phase_time = 0.0
        self._grasp_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self._anchor = np.zeros(3)  # grasp point where the fingers closed
        self._cube_half = 0.0  # cube centre height when resting, measured before grasping

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.DONE, Phase.FAILED)

    def act(
        self,
        joint_positions: np.ndarray,
        cube_position: np.ndarray,
        cube_quat: np.ndarray,
        target_position: np.ndarray,
    ) -> np.ndarray:
        """Next position command in joint order for the measured state (cube: centre, quaternion wxyz)."""
        cfg = self.config
        measured = np.asarray(joint_positions, dtype=float)
        cube = np.asarray(cube_position, dtype=float)
        if self._command is None:
            self._command = measured.copy()
            self._pose_pos, rotation = self._forward(measured[:5])
            mujoco.mju_mat2Quat(self._pose_quat, rotation.ravel())
            self._grasp_quat = self._downward_quat(cube, cube_quat)
        grasp_point, _ = self._forward(measured[:5])
        self._phase_time += cfg.control_period

        waypoint, gripper = self._waypoint(cube, cube_quat, np.asarray(target_position, dtype=float))
        arrived = self._move_pose_towards(waypoint, self._grasp_quat)
        reached = arrived and np.linalg.norm(grasp_point - waypoint) <= cfg.tolerance
        self._advance(reached, grasp_point, cube)

        self._command[:5] = self._solve_ik(self._command[:5], self._pose_pos, self._pose_quat)
        self._command[5] = gripper
        return self._command.copy()

    # -- state machine

    def _waypoint(
        self, cube: np.ndarray, cube_quat: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, float]:
        cfg = self.config
        if self.phase in (Phase.APPROACH, Phase.DESCEND):
            # Track the live cube until the fingers close on it.
            self._grasp_quat = self._downward_quat(cube, cube_quat)
            height = cfg.hover_height if self.phase is Phase.APPROACH else cfg.grasp_height
            return _above(cube, height), cfg.gripper_open
        if self.phase is Phase.CLOSE:
            return self._anchor, cfg.gripper_closed
        if self.phase is Phase.LIFT:
            return np.array([*self._anchor[:2], cfg.carry_height + cfg.grasp_height]), cfg.gripper_closed
        if self.phase is Phase.CARRY:
            return np.array([*target[:2], cfg.carry_height + cfg.grasp_height]), cfg.gripper_closed
        if self.phase is Phase.LOWER:
            return self._place_point(target), cfg.gripper_closed
        if self.phase is Phase.RELEASE:
            return self._place_point(target), cfg.gripper_open
        if self.phase is Phase.RETREAT:
            return _above(self._place_point(target), cfg.hover_height), cfg.gripper_open
        return self._pose_pos.copy(), float(self._command[5])  # finished: hold still

    def _place_point(self, target: np.ndarray) -> np.ndarray:
        cfg = self.config
        return np.array([*target[:2], self._cube_half + cfg.place_clearance + cfg.grasp_height])

    def _advance(self, reached: bool, grasp_point: np.ndarray, cube: np.ndarray) -> None:
        cfg = self.config
        gripper_done = self._phase_time >= cfg.gripper_seconds
        held = np.linalg.norm(cube - grasp_point) < cfg.held_distance
        if self.phase is Phase.APPROACH and reached:
            self._enter(Phase.DESCEND)
        elif self.phase is Phase.DESCEND and reached:
            self._cube_half = cube[2]
            self._anchor = _above(cube, cfg.grasp_height)
            self._enter(Phase.CLOSE)
        elif self.phase is Phase.CLOSE and gripper_done:
            self._enter(Phase.LIFT)
        elif self.phase in (Phase.CARRY, Phase.LOWER) and not held:
            self._retry()  # dropped on the way: pick it up again from where it lies
        elif self.phase is Phase.LIFT and reached:
            if held:
                self._enter(Phase.CARRY)
            else:
                self._retry()  # slipped out while lifting
        elif self.phase is Phase.CARRY and reached:
            self._enter(Phase.LOWER)
        elif self.phase is Phase.LOWER and reached:
            self._enter(Phase.RELEASE)
        elif self.phase is Phase.RELEASE and gripper_done:
            self._enter(Phase.RETREAT)
        elif self.phase is Phase.RETREAT and reached:
            self._enter(Phase.DONE)
        elif not self.finished and self._phase_time > cfg.phase_timeout:
            self._retry()

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self._phase_time = 0.0

    def _retry(self) -> None:
        self.attempts += 1
        self._enter(Phase.APPROACH if self.attempts < self.config.max_attempts else Phase.FAILED)

    # -- Cartesian motion

    def _move_pose_towards(self, position: np.ndarray, quat: np.ndarray) -> bool:
        """Step the commanded grasp pose towards (position, quat) within the speed limits; True once there."""
        cfg = self.config
        offset = position - self._pose_pos
        distance = float(np.linalg.norm(offset))
        max_step = cfg.linear_speed * cfg.control_period
        self._pose_pos = (
            position.copy() if distance <= max_step else self._pose_pos + offset * (max_step / distance)
        )
        rotation = np.zeros(3)
        mujoco.mju_subQuat(rotation, quat, self._pose_quat)
        angle = float(np.linalg.norm(rotation))
        max_turn = cfg.angular_speed * cfg.control_period
        if angle > max_turn:
            rotation *= max_turn / angle
        mujoco.mju_quatIntegrate(self._pose_quat, rotation, 1.0)
        return distance <= max_step and angle <= max_turn

    def _downward_quat(self, cube: np.ndarray, cube_quat: np.ndarray) -> np.ndarray:
        """Gripper pointing down, closing across the pair of cube faces nearest its natural closing line."""
        yaw = math.atan2(cube[1], cube[0]) + math.pi / 2 + cube_grasp_yaw(cube, cube_quat)
        x_axis = np.array([0.0, 0.0, -1.0])  # along the fingers
        y_axis = np.array([math.cos(yaw), math.sin(yaw), 0.0])  # closing direction
        matrix = np.column_stack([x_axis, y_axis, np.cross(x_axis, y_axis)])
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, matrix.ravel())
        return quat

    # -- kinematics

    def _forward(self, arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._data.qpos[self._qpos[:5]] = arm
        mujoco.mj_kinematics(self._model, self._data)
        mujoco.mj_comPos(self._model, self._data)
        return self._data.site_xpos[self._site].copy(), self._data.site_xmat[self._site].reshape(3, 3).copy()

    def _solve_ik(self, seed: np.ndarray, position: np.ndarray, quat: np.ndarray) -> np.ndarray:
        cfg = self.config
        goal = np.zeros(9)
        mujoco.mju_quat2Mat(goal, quat)
        goal = goal.reshape(3, 3)
        weight = cfg.orientation_weight
        q = seed.copy()
        for _ in range(cfg.ik_iterations):
            current, rotation = self._forward(q)
            error_pos = position - current
            error_rot = 0.5 * np.cross(rotation.T, goal.T).sum(axis=0)
            if np.linalg.norm(error_pos) < 1e-5 and np.linalg.norm(error_rot) < 1e-4:
                break
            mujoco.mj_jacSite(self._model, self._data, self._jacp, self._jacr, self._site)
            jacobian = np.vstack([self._jacp[:, self._dofs], weight * self._jacr[:, self._dofs]])
            error = np.concatenate([error_pos, weight * error_rot])
            damping = cfg.ik_damping**2 * np.eye(6)
            q = np.clip(
                q + jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + damping, error),
                self._low,
                self._high,
            )
        return q


def _above(point: np.ndarray, height: float) -> np.ndarray:
    return point + np.array([0.0, 0.0, height])


@dataclass(frozen=True)
class EpisodeResult:
    seed: int
    success: bool
    sim_seconds: float
    attempts: int
    final_phase: Phase


def run_episode(sim: SimArm, expert: ScriptedExpert, seed: int, max_seconds: float = 25.0) -> EpisodeResult:
    """Reset ``sim`` to the layout of ``seed`` and let ``expert`` act until done, unpaced and unrendered."""
    sim.reset(seed=seed)
    expert.reset()
    period = expert.config.control_period
    start = sim.time
    while sim.time - start < max_seconds and not expert.finished:
        position, quat = sim.cube_pose()
        sim.set_command(expert.act(sim.joint_positions(), position, quat, sim.target_position()))
        sim.advance(period)
    sim.advance(0.3)  # let the released cube settle before judging
    return EpisodeResult(seed, sim.success(), sim.time - start, expert.attempts, expert.phase)
