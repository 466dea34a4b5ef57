"""What a sim evaluation reports, without ROS: the success rate with its uncertainty, and the rollout video's
frames (the cameras side by side, upscaled to a watchable size, with a caption)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from lerobot_dataset.video import VideoEncoderConfig, VideoFileEncoder

Z_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal
FONT, FONT_SCALE, LINE_HEIGHT = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 17  # the caption's: ~12 px capitals


def wilson_interval(successes: int, episodes: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a success rate (95 % by default): unlike p ± z·√(p(1−p)/n) it stays inside
    [0, 1] and does not shrink to a point at 0 or n successes, which small evaluations often hit."""
    if episodes <= 0 or not 0 <= successes <= episodes:
        raise ValueError(f"{successes} successes of {episodes} episodes: need 0 <= successes <= episodes > 0")
    p, n, z2 = successes / episodes, episodes, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def success_text(successes: int, episodes: int) -> str:
    """E.g. "success 16/20 = 80 % (95 % CI 58–92 %)"."""
    low, high = wilson_interval(successes, episodes)
    return (
        f"success {successes}/{episodes} = {100 * successes / episodes:.0f} % "
        f"(95 % CI {100 * low:.0f}–{100 * high:.0f} %)"
    )


def _rgb(image: np.ndarray) -> np.ndarray:
    """uint8 RGB of a colour image or a depth map (scaled to its maximum, so it stays visible)."""
    if image.dtype != np.uint8:
        peak = float(np.max(image)) or 1.0
        image = (np.nan_to_num(image.astype(np.float32)) * (255.0 / peak)).clip(0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    return image[..., :3]


class FrameComposer:
    """Puts the latest image of each camera into a panel of ``height`` pixels, side by side.

    Every panel has the first camera's aspect ratio (its width rounded to even, as H.264's 4:2:0 needs); an
    image of another aspect ratio is fitted inside its panel with black bars, and a camera that has sent
    nothing yet is a black panel. Smaller images are upscaled bilinearly, larger ones downscaled by area.
    """

    def __init__(self, cameras: Sequence[str], height: int) -> None:
        if not cameras:
            raise ValueError("no camera for the video: name at least one")
        if height < 2 or height % 2:
            raise ValueError(f"video height {height}: use an even number of pixels (H.264 needs it)")
        self.cameras, self.height = list(cameras), height
        self.panel_width = 0  # known with the first camera's first image
        self._latest: dict[str, np.ndarray] = {}

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the composed frames; the width is 0 until the first camera's first image."""
        return self.panel_width * len(self.cameras), self.height

    def update(self, camera: str, image: np.ndarray) -> None:
        if camera == self.cameras[0] and not self.panel_width:
            self.panel_width = 2 * max(1, round(image.shape[1] * self.height / image.shape[0] / 2))
        self._latest[camera] = image

    def compose(self, caption: Sequence[str] = ()) -> np.ndarray:
        """The frame (height × width × 3 RGB) of the latest images, ``caption`` lines written top left."""
        if not self.panel_width:
            raise RuntimeError(f"no image of camera '{self.cameras[0]}' yet")
        frame = np.zeros((self.height, self.panel_width * len(self.cameras), 3), np.uint8)
        width = self.panel_width
        for index, camera in enumerate(self.cameras):
            if camera in self._latest:
                self._fit(_rgb(self._latest[camera]), frame[:, index * width : (index + 1) * width])
        for line, text in enumerate(caption):
            (text_width, _), _ = cv2.getTextSize(text, FONT, FONT_SCALE, 1)
            # white on a darkened strip: readable on the bright table and the dark background alike
            strip = frame[LINE_HEIGHT * line : LINE_HEIGHT * (line + 1), : text_width + 8]
            strip //= 3
            origin = (4, LINE_HEIGHT * (line + 1) - 5)
            cv2.putText(frame, text, origin, FONT, FONT_SCALE, (255, 255, 255), 1, cv2.LINE_AA)
        return frame

    @staticmethod
    def _fit(image: np.ndarray, panel: np.ndarray) -> None:
        """Scale ``image`` into ``panel`` (a view of the frame) keeping its aspect ratio, centred."""
        (height, width), (panel_height, panel_width) = image.shape[:2], panel.shape[:2]
        scale = min(panel_height / height, panel_width / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
        top, left = (panel_height - size[1]) // 2, (panel_width - size[0]) // 2
        panel[top : top + size[1], left : left + size[0]] = resized


class RolloutVideo:
    """The rollout MP4 (H.264) of :class:`FrameComposer` frames at ``fps``, in real time: a frame is repeated
    until the next one is due and frames that come faster than ``fps`` are dropped, so a camera that renders
    below ``fps`` on a busy machine does not make the robot look faster than it was."""

    def __init__(self, path: Path, fps: int, composer: FrameComposer) -> None:
        self.path, self.fps, self.composer = path, fps, composer
        self._encoder: VideoFileEncoder | None = None  # opened at the first frame, when its size is known
        self._episode: int | None = None
        self._episode_start = 0  # the frame at which the current episode's time 0 sits

    @property
    def frames(self) -> int:
        return self._encoder.frames if self._encoder is not None else 0

    def add(self, episode: int, seconds: float, caption: Sequence[str] = ()) -> None:
        """Compose the cameras' latest images as the frame at ``seconds`` into ``episode``; each new episode
        starts at the next frame."""
        if self._encoder is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            width, height = self.composer.size
            config = VideoEncoderConfig.h264(crf=23)
            self._encoder = VideoFileEncoder(self.path, self.fps, width, height, config)
        if episode != self._episode:
            self._episode, self._episode_start = episode, self._encoder.frames
        due = self._episode_start + int(seconds * self.fps) + 1  # frames up to and including this one
        if self._encoder.frames < due:
            frame = self._encoder.to_frame(self.composer.compose(caption))
            while self._encoder.frames < due:
                self._encoder.encode_frame(frame)

    def close(self) -> int:
        """Finish the file (if a frame was added); returns the number of frames written."""
        frames = self._encoder.close() if self._encoder is not None else 0
        self._encoder = None
        return frames
