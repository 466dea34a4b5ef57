"""QoS profiles shared by the drivers' nodes: the real and the simulated arm must match any peer alike."""

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# States are reliable (robot_state_publisher and recorders subscribe reliably).
STATE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Commands are taken best effort with depth 1: that matches any publisher and never queues a stale setpoint.
COMMAND_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
# A state, not an event (e.g. success): late joiners get the current value.
LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# Reliable /clock suits both reliable and best-effort subscribers (rclpy's TimeSource subscribes best effort).
CLOCK_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
