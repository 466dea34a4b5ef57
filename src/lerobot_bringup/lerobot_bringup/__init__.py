"""Bringup of the LeRobot ROS 2 suite: the node graph (graph.py), URDF kinematics, the one-process runner."""
