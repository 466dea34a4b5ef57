"""A training run's state in one object: what the loop (``train``) updates step by step, what a checkpoint
saves (``checkpoint.save_checkpoint``) and what a resume restores (``checkpoint.load_training_state``)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lerobot_training.policies.base import Policy
from lerobot_training.processor import PolicyProcessor


@dataclass
class Precision:
    """Mixed precision on CUDA: bfloat16 where supported, else float16 with loss scaling."""

    enabled: bool
    device_type: str
    dtype: torch.dtype = torch.float32
    scaler: torch.amp.GradScaler | None = None

    @classmethod
    def choose(cls, requested: bool, device: torch.device) -> Precision:
        if not requested or device.type != "cuda":
            return cls(False, device.type)
        if torch.cuda.is_bf16_supported():
            return cls(True, "cuda", torch.bfloat16)
        return cls(True, "cuda", torch.float16, torch.amp.GradScaler("cuda"))

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


@dataclass(kw_only=True)
class RunState:
    """The policy with its processors, the optimizer, scheduler and loss scaler, and the step reached: all a
    checkpoint holds, with where (``output_dir``) and for how long (``total_steps``) the run goes."""

    policy: Policy
    preprocessor: PolicyProcessor
    postprocessor: PolicyProcessor
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    precision: Precision = field(default_factory=lambda: Precision(False, "cpu"))  # no loss scaler
    output_dir: Path
    total_steps: int  # checkpoint directory names are zero-padded to its width
    train_config: Mapping[str, Any] | None = None  # saved as each checkpoint's train_config.json
    step: int = 0  # updates done
