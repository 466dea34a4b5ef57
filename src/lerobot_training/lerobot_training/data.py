"""Training samples: lerobot's delta_timestamps windows, an episode-aware sampler that shards across processes
and resumes mid-epoch, and per-sample seeded augmentation (the same images whatever the worker count)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lerobot_dataset.features import is_depth
from lerobot_dataset.torch_dataset import LeRobotTorchDataset
from lerobot_training.augmentation import ImageAugmentation
from lerobot_training.features import ACTION
from lerobot_training.policies.base import PolicyConfig

REWARD = "next.reward"


def delta_timestamps_for(
    config: PolicyConfig, dataset_features: Sequence[str], fps: int
) -> dict[str, list[float]] | None:
    """Seconds of the frames each feature of a sample spans, from the policy's delta indices (as lerobot)."""
    out: dict[str, list[float]] = {}
    reward_indices = config.reward_delta_indices
    for key in dataset_features:
        if key == REWARD and reward_indices is not None:
            out[key] = [i / fps for i in reward_indices]
        elif key == ACTION and config.action_delta_indices is not None:
            out[key] = [i / fps for i in config.action_delta_indices]
        elif key.startswith("observation.") and config.observation_delta_indices is not None:
            out[key] = [i / fps for i in config.observation_delta_indices]
    return out or None


def sample_positions(
    dataset: LeRobotTorchDataset, episodes: Sequence[int], drop_n_last_frames: int
) -> np.ndarray:
    """Positions in ``dataset`` (built over ``episodes``, in order) a sample may start from: every frame but
    each episode's last ``drop_n_last_frames`` (lerobot's EpisodeAwareSampler)."""
    positions = []
    offset = 0
    for episode_index in episodes:
        episode = dataset.reader.episodes[episode_index]
        length = episode.dataset_to_index - episode.dataset_from_index
        positions.append(np.arange(offset, offset + max(0, length - drop_n_last_frames)))
        offset += length
    return np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)


class ShardedEpochSampler(torch.utils.data.Sampler):
    """An endless stream of ``(position, sample_seed)``: each epoch a fresh permutation of ``positions`` from
    ``(seed, epoch)``, dealt to ``world_size`` processes like DistributedSampler (rank r takes every r-th, the
    tail that does not divide evenly is dropped). ``start`` skips that many of this rank's samples, so a
    resumed run sees exactly the samples an uninterrupted one would."""

    def __init__(
        self, positions: np.ndarray, seed: int, rank: int = 0, world_size: int = 1, start: int = 0
    ) -> None:
        self.positions = np.asarray(positions)
        self.per_rank = len(self.positions) // world_size
        if self.per_rank == 0:
            raise ValueError(
                f"{len(self.positions)} usable frames cannot feed {world_size} processes; record more "
                "episodes or lower drop_n_last_frames"
            )
        self.seed, self.rank, self.world_size, self.start = seed, rank, world_size, start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.positions))
            mine = order[self.rank :: self.world_size][: self.per_rank]
            for index in mine[offset:]:
                sample_seed = int(np.random.SeedSequence([self.seed, epoch, int(index)]).generate_state(1)[0])
                yield int(self.positions[index]), sample_seed
            epoch, offset = epoch + 1, 0


class SeededAugmentedDataset(torch.utils.data.Dataset):
    """Items of a LeRobotTorchDataset indexed by ``(position, sample_seed)``; colour cameras augmented with
    draws seeded by ``sample_seed`` (leaving the caller's RNG untouched). Depth maps are left as recorded:
    colour jitters mean nothing on millimetres, and clamping to [0, 1] would erase them."""

    def __init__(self, dataset: LeRobotTorchDataset, augmentation: ImageAugmentation | None) -> None:
        self.dataset = dataset
        self.augmentation = augmentation
        cameras = dataset.reader.camera_keys if dataset.cameras is None else dataset.cameras
        self.colour_cameras = [key for key in cameras if not is_depth(dataset.features[key])]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        position, sample_seed = key
        item = self.dataset[position]
        if self.augmentation is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                for camera in self.colour_cameras:
                    item[camera] = self.augmentation(item[camera])
        return item


def error_message(err: Exception) -> str:
    """The message of ``err``; for an error a DataLoader worker raised, without the worker's traceback that
    torch puts in front of it (the user gets the reason, e.g. which file is damaged, not the code path)."""
    text = str(err)
    if "Original Traceback" not in text:
        return text
    return text.rsplit(f"{type(err).__name__}: ", 1)[-1].strip()


@dataclass
class LoaderSettings:
    batch_size: int
    num_workers: int
    seed: int
    rank: int = 0
    world_size: int = 1
    start_step: int = 0
    pin_memory: bool = False


def make_train_loader(
    dataset: LeRobotTorchDataset,
    episodes: Sequence[int],
    drop_n_last_frames: int,
    augmentation: ImageAugmentation | None,
    settings: LoaderSettings,
) -> torch.utils.data.DataLoader:
    """An endless DataLoader of training batches for this process, starting after ``start_step`` batches."""
    sampler = ShardedEpochSampler(
        sample_positions(dataset, episodes, drop_n_last_frames),
        settings.seed,
        settings.rank,
        settings.world_size,
        start=settings.start_step * settings.batch_size,
    )
    return torch.utils.data.DataLoader(
        SeededAugmentedDataset(dataset, augmentation),
        batch_size=settings.batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=settings.num_workers,
        pin_memory=settings.pin_memory,
        persistent_workers=settings.num_workers > 0,
        prefetch_factor=4 if settings.num_workers > 0 else None,
        # Own generator: creating the loader must not consume the global RNG (exact resume).
        generator=torch.Generator().manual_seed(settings.seed),
    )
