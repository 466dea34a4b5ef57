"""Controller outputs: how the policy node's commands reach a robot's controller, one small class each.

An output turns what the control loop decided on a tick into the message its controller takes, or into nothing
on ticks where that controller needs no message. Message classes are looked up by ROS type name when an output
is made (``message_class``), so this module imports no ROS: the bringup graph reads the registry anywhere.

Adding an output is one subclass here, decorated with ``@register``, plus its test: the node's ``output``
parameter, ``lerobot-ros-policy --output`` and the bringup's ``controllers:`` accept its name from then on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

OUTPUTS: dict[str, type[ControllerOutput]] = {}
Plan = Callable[[], np.ndarray]  # the safe setpoints from this tick on, computed only if an output asks


def register(cls: type[ControllerOutput]) -> type[ControllerOutput]:
    """Class decorator: make an output selectable by its ``name``."""
    OUTPUTS[cls.name] = cls
    return cls


class ControllerOutput:
    """One way of commanding a controller. ``joints`` are the commanded joints in the controller's order;
    ``order`` picks them from the policy's action vector."""

    name: ClassVar[str]
    message_type: ClassVar[str]  # ROS type name of the command message, e.g. "std_msgs/msg/Float64MultiArray"
    description: ClassVar[str]

    def __init__(
        self, joints: Sequence[str], order: Sequence[int], fps: float, message_class: Callable[[str], type]
    ) -> None:
        self.joints = list(joints)
        self.order = list(order)
        self.period = 1.0 / fps
        self.message = message_class(self.message_type)

    def tick(
        self,
        command: np.ndarray,
        planned: Callable[[], np.ndarray],
        new_chunk: bool,
        holding: bool,
        stamp: Any,
    ) -> Any | None:
        """The message for one control tick, or None. ``command``: the tick's safe setpoint (the held one when
        ``holding``); ``planned()``: the safe setpoints from this tick on, command first (made on demand);
        ``stamp``: the node's time as a ROS time message. Setpoint streams send ``command`` every tick."""
        return self.hold(command, stamp)

    def hold(self, command: np.ndarray, stamp: Any) -> Any:
        """The message that holds ``command`` (sent on deactivation)."""
        raise NotImplementedError

    def values(self, command: np.ndarray) -> list[float]:
        return [float(v) for v in np.asarray(command)[self.order]]


@register
class ForwardOutput(ControllerOutput):
    name = "forward"
    message_type = "std_msgs/msg/Float64MultiArray"
    description = "forward_command_controller (and the suite's drivers' arm/commands): one setpoint per tick"

    def hold(self, command: np.ndarray, stamp: Any) -> Any:
        return self.message(data=self.values(command))


@register
class JointStateOutput(ControllerOutput):
    name = "joint_state"
    message_type = "sensor_msgs/msg/JointState"
    description = "topic_based_ros2_control and the suite's drivers (arm/joint_commands): one setpoint a tick"

    def hold(self, command: np.ndarray, stamp: Any) -> Any:
        msg = self.message(name=self.joints, position=self.values(command))
        msg.header.stamp = stamp
        return msg


@register
class TrajectoryOutput(ControllerOutput):
    name = "trajectory"
    message_type = "trajectory_msgs/msg/JointTrajectory"
    description = (
        "joint_trajectory_controller: the queued actions with velocities on every new chunk (each replaces "
        "the last); a one-point trajectory while holding"
    )

    def __init__(
        self, joints: Sequence[str], order: Sequence[int], fps: float, message_class: Callable[[str], type]
    ) -> None:
        super().__init__(joints, order, fps, message_class)
        self.point = message_class("trajectory_msgs/msg/JointTrajectoryPoint")
        self.duration = message_class("builtin_interfaces/msg/Duration")

    def tick(
        self,
        command: np.ndarray,
        planned: Callable[[], np.ndarray],
        new_chunk: bool,
        holding: bool,
        stamp: Any,
    ) -> Any | None:
        if holding:
            return self.hold(command, stamp)
        return self.trajectory(planned()) if new_chunk else None

    def hold(self, command: np.ndarray, stamp: Any) -> Any:
        return self.trajectory(np.asarray(command)[None, :])

    def trajectory(self, points: np.ndarray) -> Any:
        """``points`` (steps, action joints) one control period apart, starting one period from now."""
        velocities = np.gradient(points, self.period, axis=0) if len(points) > 1 else np.zeros_like(points)
        trajectory = self.message(joint_names=self.joints)  # zero stamp: start now
        for k, (position, velocity) in enumerate(zip(points, velocities, strict=True)):
            seconds = (k + 1) * self.period
            trajectory.points.append(
                self.point(
                    positions=self.values(position),
                    velocities=self.values(velocity),
                    time_from_start=self.duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9)),
                )
            )
        return trajectory
