"""A loaded checkpoint as the policy server serves it: whole chunks, in the dataset's units.

The server has no robot mapping: requests and replies are in the units the policy was trained in, and the
client (the policy node with its mapping, or openpi's client) converts. Frames come with each request, so one
model serves many clients without keeping anybody's history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lerobot_policy_node.policy import LoadedPolicy


class ServedCheckpoint:
    def __init__(self, checkpoint: str | Path, device: str | None = None, threads: int = 0) -> None:
        self.loaded = LoadedPolicy(checkpoint, device=device, threads=threads)
        self.loaded.whole_chunks = True  # the client executes chunk_length of them, or ensembles the whole
        self.type = self.loaded.type
        self.checkpoint = self.loaded.checkpoint
        self.input_features = self.loaded.input_features
        self.output_features = self.loaded.output_features
        self.action_dim = self.loaded.action_dim
        self.chunk_length = self.loaded.chunk_length
        self.supports_rtc = self.loaded.supports_rtc
        self.n_obs_steps = self.loaded.history.maxlen or 1
        self.temporal_ensemble_coeff = self.loaded.ensemble_coeff
        self.mapping = self.loaded.trained_mapping_text
        self.task = ""

    def infer(
        self, frames: list[dict[str, np.ndarray]], task: str, pending: np.ndarray, delay: int
    ) -> np.ndarray:
        self.loaded.task = task
        self.loaded.history.clear()
        for frame in frames:
            self.loaded.observe(frame)
        return self.loaded.predict(frames[-1], pending, delay)
