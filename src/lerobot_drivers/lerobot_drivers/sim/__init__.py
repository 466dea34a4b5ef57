"""Simulated SO-101-like arm (MuJoCo): scene, cameras and a scripted pick-and-place expert; no ROS.

MuJoCo fixes its OpenGL backend when it is first imported and, without ``MUJOCO_GL``, picks GLFW, which needs
a display; so the headless backend is chosen here, before any module of this package imports ``mujoco``.
"""

from lerobot_drivers.sim.gl import ensure_gl_backend

ensure_gl_backend()
