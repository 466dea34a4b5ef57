"""ROS shells of lerobot_bringup: the one-process runner and the action-chunk markers node."""
