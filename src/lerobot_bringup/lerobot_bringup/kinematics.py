"""Forward kinematics from a URDF (pure numpy): link poses and end-effector positions for joint vectors.

Supports what the suite's arms use: revolute, continuous, prismatic and fixed joints with origin xyz/rpy and
axis, and mimic joints (value = multiplier · other + offset), as robot_state_publisher interprets them.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MOVING = ("revolute", "continuous", "prismatic")


@dataclass(frozen=True)
class Joint:
    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray  # 4x4 transform of the child frame at zero joint value, in the parent link frame
    axis: np.ndarray
    lower: float | None = None
    upper: float | None = None
    mimic: tuple[str, float, float] | None = None  # (joint, multiplier, offset)


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF's rpy: fixed-axis rotations about x, then y, then z (R = Rz · Ry · Rx)."""
    cr, sr, cp, sp, cy, sy = (
        np.cos(roll),
        np.sin(roll),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
    )
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` about the unit vector ``axis`` (Rodrigues)."""
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _floats(text: str | None, default: str) -> np.ndarray:
    return np.array([float(v) for v in (text or default).split()])


class UrdfModel:
    """The kinematic tree of a URDF: ``UrdfModel.from_file(path)`` or ``UrdfModel(xml_text)``."""

    def __init__(self, xml: str, where: str = "<string>") -> None:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as error:
            raise ValueError(f"{where}: not valid XML: {error}") from error
        if root.tag != "robot":
            raise ValueError(f"{where}: the root element is <{root.tag}>, a URDF's is <robot>")
        self.name = root.get("name", "")
        self.links = [link.get("name") for link in root.findall("link")]
        self.joints: dict[str, Joint] = {}
        for element in root.findall("joint"):
            joint = _parse_joint(element, where)
            self.joints[joint.name] = joint
        children = {j.child for j in self.joints.values()}
        roots = [link for link in self.links if link not in children]
        if len(roots) != 1:
            raise ValueError(f"{where}: a URDF has exactly one root link, found {roots}")
        self.root = roots[0]
        for joint in self.joints.values():
            if joint.mimic and joint.mimic[0] not in self.joints:
                raise ValueError(f"{where}: joint {joint.name} mimics unknown joint {joint.mimic[0]}")
        # Parents before children, so one pass composes every link pose.
        by_parent: dict[str, list[Joint]] = {}
        for joint in self.joints.values():
            by_parent.setdefault(joint.parent, []).append(joint)
        self._order: list[Joint] = []
        pending = [self.root]
        while pending:
            for joint in by_parent.get(pending.pop(), []):
                self._order.append(joint)
                pending.append(joint.child)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> UrdfModel:
        with open(path, encoding="utf-8") as file:
            return cls(file.read(), where=str(path))

    @property
    def actuated_joints(self) -> list[str]:
        """Moving joints that are not mimics, in file order: the names joint_states carry."""
        return [j.name for j in self.joints.values() if j.type in MOVING and j.mimic is None]

    def link_poses(self, positions: Mapping[str, float]) -> dict[str, np.ndarray]:
        """4x4 pose of every link in the root link's frame; joints missing from ``positions`` are at 0."""
        unknown = set(positions) - set(self.joints)
        if unknown:
            raise ValueError(
                f"no joints named {sorted(unknown)} in {self.name}; it has {self.actuated_joints}"
            )
        poses = {self.root: np.eye(4)}
        for joint in self._order:
            pose = poses[joint.parent] @ joint.origin
            if joint.type in MOVING:
                value = self._value(joint, positions)
                motion = np.eye(4)
                if joint.type == "prismatic":
                    motion[:3, 3] = joint.axis * value
                else:
                    motion[:3, :3] = axis_angle_matrix(joint.axis, value)
                pose = pose @ motion
            poses[joint.child] = pose
        return poses

    def _value(self, joint: Joint, positions: Mapping[str, float]) -> float:
        if joint.mimic is None:
            return float(positions.get(joint.name, 0.0))
        other, multiplier, offset = joint.mimic
        return multiplier * self._value(self.joints[other], positions) + offset

    def positions(self, joint_names: Sequence[str], trajectory: np.ndarray, link: str) -> np.ndarray:
        """Positions (k, 3) of ``link`` for each row of ``trajectory`` (k, len(joint_names))."""
        if link not in self.links:
            raise ValueError(f"no link named {link!r} in {self.name}; links: {self.links}")
        rows = np.atleast_2d(np.asarray(trajectory, dtype=float))
        if rows.shape[1] != len(joint_names):
            raise ValueError(
                f"{rows.shape[1]} values per step for {len(joint_names)} joints {list(joint_names)}"
            )
        return np.array(
            [self.link_poses(dict(zip(joint_names, row, strict=True)))[link][:3, 3] for row in rows]
        ).reshape(-1, 3)


def _parse_joint(element: ET.Element, where: str) -> Joint:
    name = element.get("name", "")
    kind = element.get("type", "")
    if kind not in (*MOVING, "fixed"):
        raise ValueError(f"{where}: joint {name} has type {kind!r}; supported: {[*MOVING, 'fixed']}")
    parent, child = element.find("parent"), element.find("child")
    if parent is None or child is None:
        raise ValueError(f"{where}: joint {name} needs <parent link=...> and <child link=...>")
    origin = element.find("origin")
    transform = np.eye(4)
    if origin is not None:
        transform[:3, :3] = rpy_matrix(*_floats(origin.get("rpy"), "0 0 0"))
        transform[:3, 3] = _floats(origin.get("xyz"), "0 0 0")
    axis_element = element.find("axis")
    axis = _floats(axis_element.get("xyz") if axis_element is not None else None, "1 0 0")
    norm = np.linalg.norm(axis)
    if kind in MOVING and norm == 0:
        raise ValueError(f"{where}: joint {name} has a zero axis")
    limit = element.find("limit")
    lower = upper = None
    if limit is not None and kind != "continuous":
        lower, upper = float(limit.get("lower", 0.0)), float(limit.get("upper", 0.0))
    mimic_element = element.find("mimic")
    mimic = None
    if mimic_element is not None:
        mimic = (
            mimic_element.get("joint", ""),
            float(mimic_element.get("multiplier", 1.0)),
            float(mimic_element.get("offset", 0.0)),
        )
    return Joint(
        name=name,
        type=kind,
        parent=parent.get("link", ""),
        child=child.get("link", ""),
        origin=transform,
        axis=axis / norm if norm else axis,
        lower=lower,
        upper=upper,
        mimic=mimic,
    )
