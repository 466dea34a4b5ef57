"""A trained policy as the runner sees it: observation arrays in, a chunk of actions (steps × joints) out."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lerobot_dataset.images import image_tensor
from lerobot_dataset.mapping import Mapping, parse_mapping
from lerobot_dataset.units import MappingUnits
from lerobot_policy_node.observation import blank_observation, last_frames
from lerobot_training.checkpoint import CHECKPOINT_MAPPING_NAME, load_pretrained, resolve_pretrained_dir
from lerobot_training.features import ACTION
from lerobot_training.normalization import NormalizerStep, UnnormalizerStep
from lerobot_training.policies import Policy


def rtc_enabled(policy: Policy) -> bool:
    """Whether ``policy`` does real-time chunking: its class supports it (π₀) and its config enables it
    (lerobot's ``"rtc_config": {"enabled": true}``)."""
    return policy.supports_rtc and policy.config.rtc_enabled


class LoadedPolicy:
    """A checkpoint (local `pretrained_model` folder or Hub id) with its pre- and post-processors."""

    def __init__(self, checkpoint: str | Path, device: str | None = None, threads: int = 0) -> None:
        """``threads``: CPU threads for inference; 0 leaves one core to the control loop."""
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 2) - 1))
        # A forward pass is hundreds of small torch calls, each giving the GIL back; with ROS callbacks in
        # other threads, the default 5 ms switch interval makes each call wait for it (seen: 24 ms → 2 s).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self.checkpoint = str(checkpoint)
        self.policy, self.preprocessor, self.postprocessor = load_pretrained(
            checkpoint, device=device or None
        )
        stored = resolve_pretrained_dir(checkpoint) / CHECKPOINT_MAPPING_NAME
        # The mapping the checkpoint was trained with: as stored (a policy server hands it on) and parsed.
        self.trained_mapping_text: str | None = stored.read_text() if stored.is_file() else None
        self.trained_mapping: Mapping | None = (
            parse_mapping(self.trained_mapping_text, where=str(stored)) if self.trained_mapping_text else None
        )
        config = self.policy.config
        self.type: str = config.type
        self.device = torch.device(config.device)
        as_written = config.to_dict()  # features as config.json has them: name → {"type", "shape"}
        self.input_features: dict[str, dict[str, Any]] = as_written["input_features"]
        self.output_features: dict[str, dict[str, Any]] = as_written["output_features"]
        self.task = ""
        # Joint values in the dataset's units (mapping `units:`) around the policy; observations, the actions
        # handed in and the chunk returned are in ROS units (radians). Set from the mapping in use.
        self.units = MappingUnits()
        self.action_dim: int = self.output_features[ACTION]["shape"][-1]
        # Flow policies pad actions with zeros up to max_action_dim (π₀: 32); RTC hands them the queue padded.
        self.policy_action_dim = config.max_action_dim
        # The postprocessor's unnormalization undone, last step first: queued actions → the policy's space.
        self._action_normalizers = [
            NormalizerStep.from_config(step.get_config(), step.state_dict())
            for step in reversed(self.postprocessor.steps)
            if isinstance(step, UnnormalizerStep)
        ]
        # Real-time chunking when the checkpoint enables it; the node turns it off for other strategies.
        self.supports_rtc = rtc_enabled(self.policy)
        self.use_rtc = self.supports_rtc
        # A chunk is executed for its first chunk_length (n_action_steps) actions, as lerobot's select_action
        # does (ACT, π₀ predict chunk_size); temporal ensembling averages whole chunks: the node keeps them.
        self.chunk_length = config.chunk_length
        self.whole_chunks = False
        # The checkpoint's temporal ensembling (ACT), which the node's ensemble strategy applies.
        self.ensemble_coeff = config.temporal_ensemble_coeff
        # Policies that look at several frames (Diffusion: n_obs_steps 2) need them at the control rate, not
        # at inference requests: the runner hands every tick's observation to observe().
        self.history: deque[dict[str, np.ndarray]] = deque(maxlen=config.n_obs_steps)

    def reset(self) -> None:
        self.policy.reset()
        self.history.clear()

    def observe(self, observation: dict[str, np.ndarray]) -> None:
        """Record this tick's observation (the frames a multi-step policy sees)."""
        self.history.append(observation)

    def warm_up(self) -> float:
        """One inference on a blank observation (the first is slow: lazy initialisation); its seconds."""
        blank = blank_observation(self.input_features)
        # With RTC, guide toward a full queue: back-propagating through the model makes inference slower, and
        # the runner's first delay estimate comes from this time.
        pending = np.zeros((self.chunk_length if self.use_rtc else 0, self.action_dim), np.float32)
        started = time.perf_counter()
        self.predict(blank, pending, 1 if self.use_rtc else 0)
        elapsed = time.perf_counter() - started
        self.reset()
        return elapsed

    def to_batch(self, observation: dict[str, np.ndarray]) -> dict[str, Any]:
        """Arrays as the dataset gives them (images H×W×C, colour uint8, depth uint16) → a batch of one, as
        the policy trains on (images by lerobot_dataset.images.image_tensor, as the training loader has them).

        With n_obs_steps > 1, each feature is the stack of the last n_obs_steps observed ticks (the oldest
        repeated until enough ticks were seen, as lerobot fills its queues), ending with ``observation``.
        """
        steps = self.history.maxlen or 1
        frames = last_frames(self.history, observation)
        batch: dict[str, Any] = {}
        for name in observation:
            tensors = [self._tensor(name, frame[name]) for frame in frames]
            batch[name] = (torch.stack(tensors) if steps > 1 else tensors[0]).unsqueeze(0)
        batch["task"] = [self.task]
        return batch

    def _tensor(self, name: str, value: np.ndarray) -> torch.Tensor:
        if self.input_features.get(name, {}).get("type") == "VISUAL":
            return image_tensor(value, self.input_features[name]["shape"][1:], name)
        return torch.as_tensor(np.asarray(self.units.to_dataset(name, value), dtype=np.float32))

    def to_policy_actions(self, actions: np.ndarray) -> torch.Tensor:
        """Actions in command units (steps × action_dim) → the policy's normalized, zero-padded action space
        (1 × steps × policy_action_dim): the inverse of the postprocessor."""
        actions = self.units.to_dataset(ACTION, np.asarray(actions, np.float64).reshape(-1, self.action_dim))
        batch = {ACTION: torch.as_tensor(actions.astype(np.float32))[None]}
        for step in self._action_normalizers:
            batch = step(batch)
        padding = self.policy_action_dim - self.action_dim
        return torch.nn.functional.pad(batch[ACTION], (0, padding)).to(self.device)

    def predict(self, observation: dict[str, np.ndarray], pending: np.ndarray, delay: int) -> np.ndarray:
        """The chunk for this observation, in ROS units; with real-time chunking it continues ``pending`` (the
        queued actions from the observation's tick on), its first ``delay`` actions equal to them."""
        # Converted before the runner's safety filter sees it: a NaN stays NaN and is held, never sent.
        chunk = self._predict(observation, pending, delay)
        return self.units.to_ros(ACTION, chunk if self.whole_chunks else chunk[: self.chunk_length])

    def _predict(self, observation: dict[str, np.ndarray], pending: np.ndarray, delay: int) -> np.ndarray:
        if not self.use_rtc:
            with torch.inference_mode():
                batch = self.preprocessor(self.to_batch(observation))
                return self.postprocessor(self.policy.predict_action_chunk(batch))[0].float().cpu().numpy()
        # RTC back-propagates through the model: no_grad, since inference-mode tensors refuse autograd.
        with torch.no_grad():
            batch = self.preprocessor(self.to_batch(observation))
            if len(pending) == 0:  # nothing queued (the first chunk, after a reset): plain sampling
                actions = self.policy.predict_action_chunk(batch)
            else:
                actions = self.policy.predict_action_chunk(
                    batch, prev_actions=self.to_policy_actions(pending), inference_delay=delay
                )
            return self.postprocessor(actions)[0].float().cpu().numpy()
