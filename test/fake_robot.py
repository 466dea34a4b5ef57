"""A stand-in robot for the recorder tests: real rclpy publishers at real rates, every message numbered.

Publishes /joint_states (JointState, 100 Hz), /front/image_raw and /wrist/image_raw (Image rgb8, 30 Hz) and
/arm/commands (Float64MultiArray, 30 Hz) until killed. Message k of a stream carries k: position[0] / data[0],
and the first four bytes of an image (little-endian uint32), so a test can check order and completeness; the
rest of image k is grey level (8k mod 248) + 4, which survives video coding.
"""

import sys

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
WIDTH, HEIGHT = int(sys.argv[1]), int(sys.argv[2])


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("fake_robot")
    counters = {"joints": 0, "front": 0, "wrist": 0, "commands": 0}
    joints = node.create_publisher(JointState, "/joint_states", 100)
    commands = node.create_publisher(Float64MultiArray, "/arm/commands", 100)
    cameras = {
        c: node.create_publisher(Image, f"/{c}/image_raw", qos_profile_sensor_data)
        for c in ("front", "wrist")
    }
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)

    def publish_joints() -> None:
        k = counters["joints"]
        msg = JointState(name=JOINTS, position=[float(k)] + [0.1 * i for i in range(1, 6)])
        msg.header.stamp = node.get_clock().now().to_msg()
        joints.publish(msg)
        counters["joints"] += 1

    def publish_frame() -> None:
        stamp = node.get_clock().now().to_msg()
        for camera, publisher in cameras.items():
            k = counters[camera]
            pixels[:] = (k * 8) % 248 + 4
            pixels.reshape(-1)[:4] = np.frombuffer(np.uint32(k).tobytes(), np.uint8)
            msg = Image(height=HEIGHT, width=WIDTH, encoding="rgb8", step=WIDTH * 3, data=pixels.tobytes())
            msg.header.stamp = stamp
            publisher.publish(msg)
            counters[camera] += 1
        commands.publish(Float64MultiArray(data=[float(counters["commands"])] + [0.0] * 5))
        counters["commands"] += 1

    node.create_timer(0.01, publish_joints)
    node.create_timer(1 / 30, publish_frame)
    rclpy.spin(node)


if __name__ == "__main__":
    main()
