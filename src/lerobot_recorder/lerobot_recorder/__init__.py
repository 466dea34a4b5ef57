"""Episode recording to rosbag2 and bag → LeRobot dataset conversion; ROS nodes live in .ros."""
