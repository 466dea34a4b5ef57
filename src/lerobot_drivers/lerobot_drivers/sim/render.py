"""Offscreen rendering of the scene's cameras into rgb8 arrays, with pinhole intrinsics for CameraInfo."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from lerobot_drivers.sim.gl import RenderBackendError, render_failure_advice

__all__ = ["CameraIntrinsics", "CameraRenderer", "RenderBackendError"]


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole model of a rendered view (pixels); MuJoCo renders without distortion."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def matrix(self) -> np.ndarray:
        """3×3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


class CameraRenderer:
    """Renders named MJCF cameras at one resolution. Not thread-safe: use it from one thread at a time."""

    def __init__(
        self, model: mujoco.MjModel, cameras: Sequence[str], width: int = 640, height: int = 480
    ) -> None:
        unknown = [c for c in cameras if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, c) < 0]
        if unknown:
            names = [model.camera(i).name for i in range(model.ncam)]
            raise ValueError(f"cameras {unknown} are not in the scene; it has {names}")
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(
                f"{width}×{height} exceeds the scene's offscreen buffer "
                f"({model.vis.global_.offwidth}×{model.vis.global_.offheight}): raise <visual><global "
                "offwidth/offheight> in the MJCF or render smaller"
            )
        self.cameras = tuple(cameras)
        self.width, self.height = width, height
        self._model = model
        try:
            self._renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as error:  # backends fail in many types: FatalError, OSError, GLError, ImportError
            raise RenderBackendError(render_failure_advice(error)) from error

    def render(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """(height, width, 3) uint8 RGB image of ``camera`` for the state in ``data`` (a new array)."""
        self.update_scene(data, camera)
        return self.draw()

    def update_scene(self, data: mujoco.MjData, camera: str) -> None:
        """Snapshot what ``camera`` sees in ``data`` (fast); :meth:`draw` renders it without ``data``."""
        self._renderer.update_scene(data, camera)

    def draw(self) -> np.ndarray:
        """(height, width, 3) uint8 RGB image of the last snapshot (a new array)."""
        return self._renderer.render()

    def render_all(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        return {camera: self.render(data, camera) for camera in self.cameras}

    def intrinsics(self, camera: str) -> CameraIntrinsics:
        # MuJoCo's fovy is the full vertical field of view, in degrees, with square pixels.
        fovy = math.radians(float(self._model.camera(camera).fovy[0]))
        focal = 0.5 * self.height / math.tan(0.5 * fovy)
        return CameraIntrinsics(self.width, self.height, focal, focal, self.width / 2.0, self.height / 2.0)

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> "CameraRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
