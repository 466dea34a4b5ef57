"""Servo arms (Feetech, Dynamixel), cameras and the simulated arm; ROS nodes live in lerobot_drivers.ros."""
