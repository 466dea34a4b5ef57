"""ROS 2 nodes of lerobot_policy_node: thin shells over the core modules (the only rclpy importers)."""
