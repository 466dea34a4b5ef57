"""A calibrated arm in ROS units: joint positions in radians in, joint states out (no ROS imports here).

`Arm` owns the bus and the calibration: it checks the motors, stores the file's calibration in them when
they disagree (the file is the single source of truth, as in lerobot), writes the description's register
settings, and converts every value between ticks and radians. `ArmLoop` is what a node calls at its rate:
it keeps going across a USB unplug by reconnecting at a bounded pace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lerobot_common.calibration import MotorCalibration, calibration_path, load_calibration
from lerobot_common.robot_description import RobotDescription
from lerobot_common.units import round_ticks
from lerobot_drivers.commands import check_finite
from lerobot_drivers.motors import BusConfig, Motor, MotorHealth, make_bus
from lerobot_drivers.motors.errors import MotorBusError, PortDisconnectedError
from lerobot_drivers.motors.tables import MODELS

logger = logging.getLogger(__name__)

SHUTDOWN_MODES = ("hold", "torque_off")


@dataclass
class ArmConfig:
    description: RobotDescription
    port: str
    robot_id: str  # lerobot's `--robot.id`: names the calibration file
    baudrate: int | None = None  # None: the description's
    calibration_file: Path | None = None  # None: lerobot's place for (type, id)
    leader: bool | None = None  # None: the description's role
    retries: int = 2
    retry_budget_s: float = 0.15

    @property
    def resolved_calibration_file(self) -> Path:
        if self.calibration_file is not None:
            return Path(self.calibration_file)
        return calibration_path(
            self.description.lerobot_type, self.robot_id, category=self.description.calibration_category
        )


@dataclass(frozen=True)
class JointSample:
    stamp_ns: int  # system time (ns) when the read was issued
    positions: list[float]  # rad
    velocities: list[float]  # rad/s


class Arm:
    def __init__(self, config: ArmConfig, calibration: Mapping[str, MotorCalibration] | None = None):
        description = config.description
        self.config = config
        self.description = description
        self.is_leader = description.role == "leader" if config.leader is None else config.leader
        if calibration is None:
            calibration = load_calibration(config.resolved_calibration_file)
        self.calibration = _check_calibration(description, calibration, config.resolved_calibration_file)
        bus_config = BusConfig(
            port=config.port,
            baudrate=config.baudrate or description.baudrate,
            retries=config.retries,
            retry_budget_s=config.retry_budget_s,
        )
        self.bus = make_bus(
            description.protocol, bus_config, [Motor(j.name, j.id, j.model) for j in description.joints]
        )
        self.units = {
            joint.name: description.joint_units(joint, self.calibration[joint.name])
            for joint in description.joints
        }
        self.torque_wanted = not self.is_leader
        self._velocity_units = {
            joint.name: MODELS[joint.model].velocity_unit_rad_s for joint in description.joints
        }

    @property
    def joint_names(self) -> list[str]:
        return self.description.joint_names

    @property
    def is_connected(self) -> bool:
        return self.bus.is_connected

    def joint_limits(self, joint: str) -> tuple[float, float]:
        """Radians a command is clamped to: the calibrated range, narrowed by the description's limits."""
        lower, upper = self.units[joint].radian_limits
        limits = next(j.limits for j in self.description.joints if j.name == joint)
        if limits is not None:
            lower, upper = max(lower, limits[0]), min(upper, limits[1])
        return lower, upper

    # ------------------------------------------------------------------------------------------- lifecycle
    def connect(self) -> None:
        """Open the bus, check every motor, sync calibration and settings, then apply the torque state."""
        with self.bus.patience():
            self.bus.connect(identify=True)
            try:
                self._configure()
            except BaseException:
                self.bus.disconnect()
                raise

    def reconnect(self) -> None:
        """Reopen after an unplug; motors may have lost power meanwhile, so torque is applied again."""
        self.bus.connect(identify=True)
        self.set_torque(self.torque_wanted)

    def close(self, on_shutdown: str = "hold") -> None:
        """Leave the arm safe: `hold` (stop where it is, torque on) or `torque_off` (limp), then close."""
        if on_shutdown not in SHUTDOWN_MODES:
            raise ValueError(f"on_shutdown must be one of {SHUTDOWN_MODES}, got {on_shutdown!r}")
        try:
            if self.bus.is_connected:
                with self.bus.patience():
                    if on_shutdown == "torque_off" or self.is_leader:
                        self.bus.set_torque(False)
                    else:
                        self._hold_present_position()
        finally:
            self.bus.disconnect()

    # ------------------------------------------------------------------------------------------- I/O
    def read(self) -> JointSample:
        stamp_ns = time.time_ns()
        values = self.bus.sync_read(["Present_Position", "Present_Velocity"])
        positions, velocities = [], []
        for name in self.joint_names:
            positions.append(self.units[name].ticks_to_radians(values[name]["Present_Position"]))
            velocities.append(values[name]["Present_Velocity"] * self._velocity_units[name])
        return JointSample(stamp_ns, positions, velocities)

    def command(self, positions: Mapping[str, float]) -> dict[str, int]:
        """Send goal positions (radians) for some or all joints; a non-finite value refuses the whole command
        (RejectedCommandError) before anything is written.

        Returns the goals written, in ticks, after clamping to `joint_limits`.
        """
        if self.is_leader:
            raise RuntimeError("a leader arm takes no commands: run it as a follower to move it")
        unknown = set(positions) - set(self.joint_names)
        if unknown:
            raise KeyError(f"unknown joints {sorted(unknown)}: this arm has {self.joint_names}")
        check_finite(positions)
        goals = {}
        for name, radians in positions.items():
            lower, upper = self.joint_limits(name)
            goals[name] = round_ticks(self.units[name].radians_to_ticks(min(upper, max(lower, radians))))
        self.bus.sync_write("Goal_Position", goals)
        return goals

    def set_torque(self, enabled: bool) -> None:
        """Torque on holds the present pose first, so the arm never jumps to an old goal."""
        with self.bus.patience():
            if enabled:
                self._hold_present_position()
            self.bus.set_torque(enabled)
        self.torque_wanted = enabled

    def read_health(self) -> dict[str, MotorHealth]:
        return self.bus.read_health()

    # ------------------------------------------------------------------------------------------- internals
    def _configure(self) -> None:
        stored = self.bus.read_calibration()
        stale = {
            name: entry
            for name, entry in self.calibration.items()
            if (stored[name].homing_offset, stored[name].range_min, stored[name].range_max)
            != (entry.homing_offset, entry.range_min, entry.range_max)
        }
        settings = {
            (joint.name, register): value
            for joint in self.description.joints
            for register, value in joint.settings.items()
            if self.bus.read(register, joint.name) != value
        }
        if stale or settings:
            # EEPROM writes need torque off (and Lock off on Feetech); only done when something changed.
            self.bus.set_torque(False)
            if stale:
                logger.info("writing the calibration of %s into the motors", sorted(stale))
                self.bus.write_calibration(stale)
            for (name, register), value in settings.items():
                self.bus.write(register, name, value)
        self.set_torque(self.torque_wanted)

    def _hold_present_position(self) -> None:
        present = self.bus.sync_read("Present_Position")
        self.bus.sync_write("Goal_Position", {name: v["Present_Position"] for name, v in present.items()})


def _check_calibration(
    description: RobotDescription, calibration: Mapping[str, MotorCalibration], source: Path
) -> dict[str, MotorCalibration]:
    missing = [joint.name for joint in description.joints if joint.name not in calibration]
    if missing:
        raise ValueError(
            f"calibration {source} has no entry for {missing}: it belongs to another robot type, "
            "or recalibrate with `lerobot-ros-calibrate`"
        )
    for joint in description.joints:
        if calibration[joint.name].id != joint.id:
            raise ValueError(
                f"calibration {source} gives {joint.name!r} id {calibration[joint.name].id}, the robot "
                f"description id {joint.id}: fix the motor ids or recalibrate"
            )
    return {joint.name: calibration[joint.name] for joint in description.joints}


@dataclass
class LoopStatus:
    connected: bool = False
    message: str = "not connected yet"
    cycles: int = 0
    failed_cycles: int = 0
    disconnects: int = 0
    reconnects: int = 0
    failing_motors: list[int] = field(default_factory=list)  # ids of the motors of the last failed cycle


class ArmLoop:
    """One control cycle at a time: read, then write the latest command; survives unplugs and bad cycles."""

    def __init__(self, arm: Arm, reconnect_period_s: float = 1.0):
        self.arm = arm
        self.reconnect_period_s = reconnect_period_s
        self.status = LoopStatus(connected=arm.is_connected, message="connected" if arm.is_connected else "")
        self._next_reconnect = 0.0

    def step(self, command: Mapping[str, float] | None = None) -> JointSample | None:
        """Read the joints and send `command` if any; None when no fresh sample could be had."""
        if not self.arm.is_connected:
            self._try_reconnect()
            return None
        self.status.cycles += 1
        try:
            sample = self.arm.read()
            if command:
                self.arm.command(command)
        except PortDisconnectedError as err:
            self._lost(str(err))
            return None
        except MotorBusError as err:
            self.status.failed_cycles += 1
            self.status.message = str(err)
            self.status.failing_motors = list(getattr(err, "motor_ids", []))
            return None
        self.status.message = "ok"
        self.status.failing_motors = []
        return sample

    def health(self) -> dict[str, MotorHealth]:
        """Voltage, temperature and hardware errors per motor; empty when they cannot be read now."""
        if not self.arm.is_connected:
            return {}
        try:
            return self.arm.read_health()
        except PortDisconnectedError as err:
            self._lost(str(err))
        except MotorBusError:
            pass  # the control cycle reports communication problems; health is best effort
        return {}

    def _lost(self, message: str) -> None:
        self.status.connected = False
        self.status.disconnects += 1
        self.status.message = message
        self._next_reconnect = time.monotonic() + self.reconnect_period_s

    def _try_reconnect(self) -> None:
        if time.monotonic() < self._next_reconnect:
            return
        self._next_reconnect = time.monotonic() + self.reconnect_period_s
        try:
            self.arm.reconnect()
        except MotorBusError as err:
            self.arm.bus.disconnect()
            self.status.message = f"reconnecting: {err}"
            return
        self.status.connected = True
        self.status.reconnects += 1
        self.status.message = "reconnected"
