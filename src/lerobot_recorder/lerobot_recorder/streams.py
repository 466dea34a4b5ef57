"""What a bag's conversion reads and reports per episode: the feature streams and their alignment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lerobot_dataset.mapping import FeatureSource
from lerobot_recorder.sync import Alignment


@dataclass
class Stream:
    """One feature's samples, sorted by time."""

    source: FeatureSource
    times: np.ndarray  # int64 ns: header stamp, or receive time when the message has none
    receive_times: np.ndarray  # int64 ns, same order
    positions: np.ndarray  # each sample's position among the topic's messages in the bag
    values: np.ndarray | None  # joint features: (samples, joints) float64; images: None (decoded in pass 2)
    out_of_order: int  # samples whose stamp is older than the one received before them
    shape: tuple[int, ...] = ()  # images: height, width, channels


@dataclass
class EpisodeReport:
    """A bag's conversion: its episodes (one per segment of the alignment) start at ``episode_index``."""

    bag: Path
    episode_index: int
    frames: int
    fps: int
    alignment: Alignment
    streams: dict[str, Stream]

    @property
    def episodes(self) -> list[int]:
        return list(range(self.episode_index, self.episode_index + len(self.alignment.segments)))
