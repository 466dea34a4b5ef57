"""`ros2 run lerobot_drivers teleop`: a leader arm's joints become the follower's position commands.

Subscribes to the leader's `joint_states` (`leader_topic`, default /leader/joint_states: the arm node in
namespace `leader` with mode leader) and republishes each message's positions as a `sensor_msgs/JointState`
command by joint name on the follower's `arm/joint_commands` (`command_topic`), stamped with the leader's
stamp. `joints` restricts which joints are relayed (empty: all of them). The newest leader state is relayed
(best effort, depth 1, as the drivers take commands): a stale pose is never queued behind a fresh one.
"""

from __future__ import annotations

import sys

from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import COMMAND_QOS, STATE_QOS
from lerobot_common.ros.run import run_node

PARAMETERS = {
    "leader_topic": ("/leader/joint_states", "sensor_msgs/JointState of the leader arm"),
    "command_topic": ("/arm/joint_commands", "follower command topic (JointState by name)"),
    "joints": (Parameter.Type.STRING_ARRAY, "joints to relay; empty: every joint of the leader"),
}


class TeleopNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("teleop", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.joints = set(p["joints"] or [])
        self.relayed = 0
        # Reliable like a command stream; the drivers take commands best effort, which matches either.
        self._commands = self.create_publisher(JointState, p["command_topic"], STATE_QOS)
        self.create_subscription(JointState, p["leader_topic"], self._on_leader, COMMAND_QOS)
        self.get_logger().info(f"{p['leader_topic']} → {p['command_topic']}")

    def _on_leader(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            self.get_logger().warning(
                f"leader message with {len(msg.name)} names and {len(msg.position)} positions ignored",
                throttle_duration_sec=5.0,
            )
            return
        pairs = [
            (n, p) for n, p in zip(msg.name, msg.position, strict=True) if not self.joints or n in self.joints
        ]
        if not pairs:
            return
        command = JointState(name=[n for n, _ in pairs], position=[p for _, p in pairs])
        command.header.stamp = msg.header.stamp
        self._commands.publish(command)
        self.relayed += 1


def main(args: list[str] | None = None) -> int:
    return run_node(
        "lerobot_drivers teleop",
        TeleopNode,
        (ValueError,),
        args,
        description=__doc__.split("\n\n")[0],
        parameters=PARAMETERS,
    )


if __name__ == "__main__":
    sys.exit(main())
