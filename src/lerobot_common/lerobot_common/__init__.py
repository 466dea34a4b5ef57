"""Robot facts every layer of the suite shares, without ROS; ``lerobot_common.ros``: the node-shell kit."""
