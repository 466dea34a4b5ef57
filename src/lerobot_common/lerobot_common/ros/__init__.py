"""The one kit for the suite's ROS node shells."""
