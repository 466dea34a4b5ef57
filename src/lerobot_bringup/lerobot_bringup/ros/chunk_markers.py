"""`ros2 run lerobot_bringup chunk_markers`: the policy's action chunks as end-effector trails for RViz.

Subscribes to `lerobot_msgs/ActionChunk` (the policy node's `~/action_chunk`) and publishes a
`visualization_msgs/MarkerArray` on `action_chunk_markers`: the path of `tip_link` through the chunk's joint
targets by forward kinematics of the URDF (a LINE_STRIP, and a SPHERE_LIST fading from the first step to the
last), in the URDF's root frame. Joints the chunk leaves out take their latest `joint_states` value.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from geometry_msgs.msg import Point
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from lerobot_bringup.kinematics import UrdfModel
from lerobot_common.config_files import find_config
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import STATE_QOS
from lerobot_common.ros.run import run_node
from lerobot_msgs.msg import ActionChunk

PARAMETERS = {
    "urdf": ("", "URDF file of the arm; empty: config/urdf/so101.urdf"),
    "tip_link": ("gripper_tip", "link whose path is drawn (the end effector)"),
    "chunk_topic": ("/policy/action_chunk", "lerobot_msgs/ActionChunk topic of the policy node"),
    "line_width": (0.004, "metres"),
    "sphere_size": (0.012, "metres"),
}
# Start and end colour of the trail (RGBA): the next action bright, the chunk's last one faded.
FIRST, LAST = np.array([0.1, 0.9, 0.3, 1.0]), np.array([0.1, 0.3, 0.9, 0.35])


class ChunkMarkersNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("chunk_markers", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        path = Path(p["urdf"]) if p["urdf"] else find_config("urdf/so101.urdf")
        self.model = UrdfModel.from_file(path)
        if p["tip_link"] not in self.model.links:
            raise ValueError(f"tip_link {p['tip_link']!r} is not a link of {path}: {self.model.links}")
        self.tip_link = p["tip_link"]
        self.line_width, self.sphere_size = p["line_width"], p["sphere_size"]
        self.latest: dict[str, float] = {}
        self.markers_pub = self.create_publisher(MarkerArray, "action_chunk_markers", 10)
        self.create_subscription(ActionChunk, p["chunk_topic"], self._on_chunk, 10)
        self.create_subscription(JointState, "joint_states", self._on_joint_states, STATE_QOS)

    def _on_joint_states(self, msg: JointState) -> None:
        self.latest.update(
            (n, p) for n, p in zip(msg.name, msg.position, strict=False) if n in self.model.joints
        )

    def _on_chunk(self, msg: ActionChunk) -> None:
        n = len(msg.joint_names)
        if n == 0 or msg.horizon == 0 or len(msg.positions) != msg.horizon * n:
            self.get_logger().warning(
                f"chunk {msg.sequence} ignored: {len(msg.positions)} positions for horizon {msg.horizon} "
                f"× {n} joints",
                throttle_duration_sec=5.0,
            )
            return
        known = [j for j in msg.joint_names if j in self.model.joints]
        targets = np.asarray(msg.positions).reshape(msg.horizon, n)[
            :, [msg.joint_names.index(j) for j in known]
        ]
        others = {k: v for k, v in self.latest.items() if k not in known}
        names = known + list(others)
        steps = np.hstack([targets, np.tile(list(others.values()), (msg.horizon, 1))])
        self.markers_pub.publish(self.markers(self.model.positions(names, steps, self.tip_link), msg))

    def markers(self, points: np.ndarray, chunk: ActionChunk) -> MarkerArray:
        """LINE_STRIP (id 0) and SPHERE_LIST (id 1) through ``points``; each chunk replaces the last."""
        positions = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points]
        fractions = np.linspace(0.0, 1.0, len(points)) if len(points) > 1 else np.zeros(1)
        colors = [
            ColorRGBA(**dict(zip("rgba", map(float, FIRST + f * (LAST - FIRST)), strict=True)))
            for f in fractions
        ]
        common = {"ns": "action_chunk", "action": Marker.ADD, "points": positions, "colors": colors}
        line = Marker(id=0, type=Marker.LINE_STRIP, **common)
        line.scale.x = float(self.line_width)
        spheres = Marker(id=1, type=Marker.SPHERE_LIST, **common)
        spheres.scale.x = spheres.scale.y = spheres.scale.z = float(self.sphere_size)
        for marker in (line, spheres):
            marker.header.frame_id = self.model.root
            marker.header.stamp = chunk.header.stamp
            marker.pose.orientation.w = 1.0
            marker.color = colors[0]
        return MarkerArray(markers=[line, spheres])


def main(args: list[str] | None = None) -> int:
    return run_node(
        "lerobot_bringup chunk_markers",
        ChunkMarkersNode,
        (ValueError, FileNotFoundError),
        args,
        description=__doc__.split("\n\n")[1],
        parameters=PARAMETERS,
    )


if __name__ == "__main__":
    sys.exit(main())
