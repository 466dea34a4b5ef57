"""ROS 2 nodes of lerobot_drivers: thin shells over the core modules (the only place that imports rclpy)."""
