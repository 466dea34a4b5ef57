"""Shared helpers for the lerobot_dataset tests: synthetic episodes with known content, and file hashing."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

if importlib.util.find_spec("lerobot_dataset") is None:  # not installed: test the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lerobot_dataset import DatasetWriter, FileLimits, VideoEncoderConfig

HEIGHT, WIDTH = 48, 64
FPS = 30
# Small limits so that a few short episodes fill several data, video and episodes files.
TINY_LIMITS = FileLimits(chunks_size=1000, data_files_size_in_mb=0.02, video_files_size_in_mb=0.008)


def camera_frame(index: int, camera: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A frame that no other frame resembles: flat colours set by the global frame index, plus texture."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = (index * 23 + camera * 50) % 256
    image[..., 1] = (index * 41 + 100 + camera * 20) % 256
    image[..., 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    rng = np.random.default_rng(index * 10 + camera)
    blocks = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    image[: height // 2, : width // 2] = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
    return image


def state_of(index: int) -> np.ndarray:
    return (np.sin(np.arange(6) + index * 0.1) * (1 + index)).astype(np.float32)


def action_of(index: int) -> np.ndarray:
    return (np.arange(6, dtype=np.float32) * 0.5 - index).astype(np.float32)


def features(
    video_cameras: int = 1, image_cameras: int = 0, depth: bool = False
) -> dict[str, dict[str, Any]]:
    feats: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": [f"joint_{i}" for i in range(6)]},
        "action": {"dtype": "float32", "shape": [6], "names": [f"joint_{i}" for i in range(6)]},
        "next.reward": {"dtype": "float32", "shape": [1], "names": None},
    }
    for c in range(video_cameras):
        feats[f"observation.images.cam{c}"] = {"dtype": "video", "shape": [HEIGHT, WIDTH, 3]}
    for c in range(image_cameras):
        feats[f"observation.images.still{c}"] = {"dtype": "image", "shape": [HEIGHT, WIDTH, 3]}
    if depth:
        feats["observation.images.depth"] = {"dtype": "video", "shape": [HEIGHT, WIDTH, 1]}
    return feats


def depth_frame(index: int) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return ((xx * 50 + yy * 7 + index * 13) % 4096).astype(np.uint16)


def frame_of(index: int, feats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The frame with global index ``index`` for the features built by ``features``."""
    frame: dict[str, Any] = {
        "observation.state": state_of(index),
        "action": action_of(index),
        "next.reward": np.float32(index % 3),
    }
    for camera, key in enumerate(k for k, ft in feats.items() if ft["dtype"] in ("video", "image")):
        if key == "observation.images.depth":
            frame[key] = depth_frame(index)
        else:
            frame[key] = camera_frame(index, camera)
    return frame


def task_of(episode: int) -> str:
    return ["pick the red cube", "place it in the bin", "wave"][episode % 3]


@dataclass
class Written:
    root: Path
    features: dict[str, dict[str, Any]]
    lengths: list[int]
    starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.starts = [int(s) for s in np.cumsum([0, *self.lengths[:-1]])]


def write_episodes(
    writer: DatasetWriter,
    feats: dict[str, dict[str, Any]],
    lengths: list[int],
    first_episode: int = 0,
    first_index: int = 0,
) -> None:
    index = first_index
    for offset, length in enumerate(lengths):
        for _ in range(length):
            writer.add_frame(frame_of(index, feats), task=task_of(first_episode + offset))
            index += 1
        writer.save_episode()


def make_dataset(
    root: Path,
    lengths: list[int],
    feats: dict[str, dict[str, Any]] | None = None,
    limits: FileLimits | None = None,
    video: VideoEncoderConfig | None = None,
) -> Written:
    feats = feats if feats is not None else features()
    with DatasetWriter.create(
        root, fps=FPS, features=feats, robot_type="so101", video=video, limits=limits
    ) as writer:
        write_episodes(writer, feats, lengths)
    return Written(root, feats, list(lengths))


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file of the dataset (writer scratch files excluded)."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in (".staging", ".writer.lock"):
            hashes[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def best_match(image: np.ndarray, candidates: dict[int, np.ndarray]) -> tuple[int, float]:
    """The candidate index closest to ``image`` and its mean absolute error."""
    errors = {
        i: float(np.abs(image.astype(np.int16) - c.astype(np.int16)).mean()) for i, c in candidates.items()
    }
    best = min(errors, key=errors.get)
    return best, errors[best]


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import this conftest by name)."""
    names = [
        "HEIGHT",
        "WIDTH",
        "FPS",
        "TINY_LIMITS",
        "camera_frame",
        "state_of",
        "action_of",
        "features",
        "depth_frame",
        "frame_of",
        "task_of",
        "Written",
        "write_episodes",
        "make_dataset",
        "hash_tree",
        "best_match",
    ]
    return SimpleNamespace(**{name: globals()[name] for name in names})


@pytest.fixture(scope="module")
def rolled_dataset(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """Six episodes with two video cameras and one PNG camera, over several files of every kind."""
    root = tmp_path_factory.mktemp("rolled") / "ds"
    return make_dataset(
        root, [12, 9, 15, 7, 11, 10], features(video_cameras=2, image_cameras=1), limits=TINY_LIMITS
    )
