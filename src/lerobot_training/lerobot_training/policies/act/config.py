"""ACT configuration: lerobot 0.6.1's keys and defaults (see specs/lerobot-reference/act.config.json)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch

from lerobot_training.normalization import NormalizationMode
from lerobot_training.policies.base import ConfigError, PolicyConfig
from lerobot_training.policies.vision import DEFAULT_BACKBONE_WEIGHTS

FEEDFORWARD_ACTIVATIONS = ("relu", "gelu", "glu")


@dataclasses.dataclass
class ACTConfig(PolicyConfig):
    """Action Chunking Transformer (Zhao et al. 2023) as lerobot configures it.

    Inputs: ``observation.state`` and/or ``observation.environment_state``, plus cameras; output ``action``.
    At inference the policy either runs ``n_action_steps`` of each predicted chunk open loop, or (when
    ``temporal_ensemble_coeff`` is set, with ``n_action_steps == 1``) re-plans every step and averages the
    overlapping predictions with weights exp(-coeff · i), oldest prediction first.
    """

    type = "act"

    n_obs_steps: int = 1
    chunk_size: int = 100
    n_action_steps: int = 100
    normalization_mapping: dict[str, NormalizationMode] = dataclasses.field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.MEAN_STD,
            "STATE": NormalizationMode.MEAN_STD,
            "ACTION": NormalizationMode.MEAN_STD,
        }
    )
    # Backbone. lerobot's default: ImageNet weights, which torchvision downloads once into $TORCH_HOME (a
    # config written by either side then means the same). None: a randomly initialised backbone, nothing to
    # download. Loading a checkpoint never downloads them: its file holds the backbone's weights.
    vision_backbone: str = "resnet18"
    pretrained_backbone_weights: str | None = DEFAULT_BACKBONE_WEIGHTS
    replace_final_stride_with_dilation: bool = False
    # Transformer.
    pre_norm: bool = False
    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    feedforward_activation: str = "relu"
    n_encoder_layers: int = 4
    # The original ACT code ran only the first of its 7 decoder layers; lerobot builds just that one.
    n_decoder_layers: int = 1
    # VAE.
    use_vae: bool = True
    latent_dim: int = 32
    n_vae_encoder_layers: int = 4
    # Inference.
    temporal_ensemble_coeff: float | None = None
    # Training and loss.
    dropout: float = 0.1
    kl_weight: float = 10.0
    # Optimizer preset (AdamW; the backbone gets its own learning rate).
    optimizer_lr: float = 1e-5
    optimizer_weight_decay: float = 1e-4
    optimizer_lr_backbone: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.vision_backbone.startswith("resnet"):
            raise ConfigError(f"vision_backbone must be a ResNet variant, got {self.vision_backbone!r}")
        if self.feedforward_activation not in FEEDFORWARD_ACTIVATIONS:
            raise ConfigError(
                f"feedforward_activation must be one of {FEEDFORWARD_ACTIVATIONS}, "
                f"got {self.feedforward_activation!r}"
            )
        if self.temporal_ensemble_coeff is not None and self.n_action_steps > 1:
            raise ConfigError(
                "temporal ensembling re-plans every step: set n_action_steps=1 with temporal_ensemble_coeff "
                f"(got n_action_steps={self.n_action_steps})"
            )
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ConfigError(
                f"n_action_steps ({self.n_action_steps}) must be between 1 and chunk_size ({self.chunk_size})"
            )
        if self.n_obs_steps != 1:
            raise ConfigError(
                f"ACT uses the current observation only: n_obs_steps must be 1, got {self.n_obs_steps}"
            )
        if self.dim_model % self.n_heads:
            raise ConfigError(f"dim_model ({self.dim_model}) must be divisible by n_heads ({self.n_heads})")

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))

    @property
    def chunk_length(self) -> int:
        return self.n_action_steps

    def make_optimizer(self, params: Iterable[Any]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            params,
            lr=self.optimizer_lr,
            weight_decay=self.optimizer_weight_decay,
            fused=self.fused_optimizer,
        )
