"""Runs a policy on live observations and streams action chunks; ROS nodes live in lerobot_policy_node.ros."""
