"""A ``torch.utils.data.Dataset`` over a LeRobot v3.0 dataset, returning items shaped like lerobot's.

This is the only module of the package that imports torch; nothing else imports it, so the writer and
reader work without torch installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lerobot_dataset.features import camera_shape, is_camera
from lerobot_dataset.images import image_tensor, must_resize
from lerobot_dataset.reader import DatasetReader, check_delta_timestamps


class LeRobotTorchDataset(torch.utils.data.Dataset):
    """Frames (or ``delta_timestamps`` windows) of a dataset as dicts of tensors.

    Cameras come as the policy receives them (``lerobot_dataset.images.image_tensor``, the step the policy
    node uses too): float32 (C, H, W) in [0, 1] (depth maps: float32 (1, H, W) in their recorded units),
    windows of cameras as (T, C, H, W); ``image_sizes`` (camera → height, width) brings a camera to the size a
    policy takes, by the rule a policy node applies to a camera of another size. Numbers come as tensors
    (shape-[1] features as 0-d tensors); padding flags as ``<key>_is_pad`` bool tensors; ``task`` as text.
    Safe to use with DataLoader workers: each process opens its own decoders.
    """

    def __init__(
        self,
        root: str | Path,
        delta_timestamps: Mapping[str, Sequence[float]] | None = None,
        episodes: Sequence[int] | None = None,
        image_transforms: Callable[[torch.Tensor], torch.Tensor] | None = None,
        tolerance_s: float = 1e-4,
        cameras: Sequence[str] | None = None,
        image_sizes: Mapping[str, Sequence[int]] | None = None,
    ):
        self.reader = DatasetReader(root, tolerance_s=tolerance_s)
        cameras_here = list(self.reader.camera_keys)
        unknown = sorted(set(cameras or ()) - set(cameras_here))
        if unknown:
            raise KeyError(f"cameras {unknown} are not in the dataset ({cameras_here})")
        self.cameras = None if cameras is None else list(cameras)  # None: all of them
        self.image_sizes = {key: tuple(size) for key, size in (image_sizes or {}).items()}
        for key, size in self.image_sizes.items():
            if key not in cameras_here:
                raise KeyError(f"image_sizes: {key!r} is not a camera of the dataset ({cameras_here})")
            must_resize(key, camera_shape(self.reader.features[key])[:2], size)  # another aspect: refused now
        self.delta_timestamps = dict(delta_timestamps) if delta_timestamps else None
        if self.delta_timestamps:
            check_delta_timestamps(self.delta_timestamps, self.reader.fps, tolerance_s, self.reader.features)
        self.image_transforms = image_transforms
        selected = range(self.reader.num_episodes) if episodes is None else episodes
        ranges = []
        for episode_index in selected:
            if not 0 <= episode_index < self.reader.num_episodes:
                raise IndexError(f"episode {episode_index} is not in 0..{self.reader.num_episodes - 1}")
            ep = self.reader.episodes[episode_index]
            ranges.append(np.arange(ep.dataset_from_index, ep.dataset_to_index))
        self._indices = np.concatenate(ranges) if ranges else np.zeros(0, dtype=np.int64)

    @property
    def fps(self) -> int:
        return self.reader.fps

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        return self.reader.features

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        return self.reader.stats

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        index = int(self._indices[idx])
        if self.delta_timestamps:
            item = self.reader.window(index, self.delta_timestamps, self.cameras)
        else:
            item = self.reader.frame(index, cameras=self.cameras)
        out: dict[str, Any] = {}
        for key, value in item.items():
            if key == "task":
                out[key] = value
            elif key in self.reader.features and is_camera(self.reader.features[key]):
                out[key] = self._camera(key, value)
            else:
                out[key] = torch.tensor(np.asarray(value))  # a copy: the reader caches read-only columns
        return out

    def _camera(self, key: str, images: np.ndarray) -> torch.Tensor:
        tensor = image_tensor(images, self.image_sizes.get(key), key)
        if self.image_transforms is not None:
            tensor = self.image_transforms(tensor)
        return tensor
