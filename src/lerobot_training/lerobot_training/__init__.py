"""Offline training of ACT, Diffusion Policy and π₀ with lerobot-compatible checkpoints. No ROS."""
