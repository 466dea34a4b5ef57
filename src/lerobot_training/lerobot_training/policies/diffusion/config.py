"""Diffusion Policy configuration: lerobot 0.6.1's keys and defaults (see its reference config.json), plus
the horizon-16 preset of older lerobot releases and most published checkpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch
from diffusers.optimization import get_scheduler

from lerobot_training.features import FeatureError
from lerobot_training.normalization import NormalizationMode
from lerobot_training.policies.base import ConfigError, PolicyConfig
from lerobot_training.policies.vision import DEFAULT_BACKBONE_WEIGHTS

PREDICTION_TYPES = ("epsilon", "sample")
NOISE_SCHEDULERS = ("DDPM", "DDIM")


@dataclasses.dataclass
class DiffusionConfig(PolicyConfig):
    """Diffusion Policy (Chi et al. 2023) with a 1D conditional UNet, as lerobot configures it.

    Inputs: ``observation.state`` (required) plus cameras and/or ``observation.environment_state`` over the
    last ``n_obs_steps`` frames; output: ``horizon`` actions starting at the oldest observed frame, of which
    ``actions[n_obs_steps-1 : n_obs_steps-1+n_action_steps]`` are executed.
    """

    type = "diffusion"

    n_obs_steps: int = 2
    horizon: int = 64
    n_action_steps: int = 32
    normalization_mapping: dict[str, NormalizationMode] = dataclasses.field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.MEAN_STD,
            "STATE": NormalizationMode.MIN_MAX,
            "ACTION": NormalizationMode.MIN_MAX,
        }
    )
    # Read by the training sampler: episodes' last frames are not used as sample starts.
    drop_n_last_frames: int = 7
    # Vision backbone. Images are resized (resize_shape), cropped (crop_shape; random while training) and
    # encoded by a ResNet trunk + spatial softmax into 2 · spatial_softmax_num_keypoints features.
    vision_backbone: str = "resnet18"
    resize_shape: tuple[int, int] | None = None
    crop_ratio: float = 1.0  # with resize_shape: crop_shape = resize_shape · crop_ratio
    crop_shape: tuple[int, int] | None = None
    crop_is_random: bool = True
    # lerobot's default, as for ACT: ImageNet weights downloaded by torchvision; None: random initialisation.
    pretrained_backbone_weights: str | None = DEFAULT_BACKBONE_WEIGHTS
    use_group_norm: bool = False
    spatial_softmax_num_keypoints: int = 32
    use_separate_rgb_encoder_per_camera: bool = True
    # UNet.
    down_dims: tuple[int, ...] = (512, 1024, 2048)
    kernel_size: int = 5
    n_groups: int = 8
    diffusion_step_embed_dim: int = 128
    use_film_scale_modulation: bool = True
    gradient_checkpointing: bool = False
    # Noise scheduler (diffusers).
    noise_scheduler_type: str = "DDPM"
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: str = "epsilon"
    clip_sample: bool = True
    clip_sample_range: float = 1.0
    # Inference: denoising steps (None: num_train_timesteps). DDIM gives good samples with ~10.
    num_inference_steps: int | None = None
    compile_model: bool = False
    compile_mode: str = "reduce-overhead"
    # Loss.
    do_mask_loss_for_padding: bool = False
    # Optimizer and scheduler presets (Adam, cosine with warm-up).
    optimizer_lr: float = 1e-4
    optimizer_betas: tuple[float, float] = (0.95, 0.999)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 1e-6
    scheduler_name: str = "cosine"
    scheduler_warmup_steps: int = 500

    @classmethod
    def horizon16(cls, **overrides: Any) -> DiffusionConfig:
        """The preset of lerobot ≤ 0.3 and of most published checkpoints (e.g. PushT): horizon 16, 8 executed
        actions, 84×84 random crop, group norm in a randomly initialised ResNet shared by all cameras."""
        preset: dict[str, Any] = {
            "horizon": 16,
            "n_action_steps": 8,
            "crop_shape": (84, 84),
            "pretrained_backbone_weights": None,  # group norm and ImageNet's batch-norm weights do not mix
            "use_group_norm": True,
            "use_separate_rgb_encoder_per_camera": False,
        }
        return cls(**{**preset, **overrides})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.vision_backbone.startswith("resnet"):
            raise ConfigError(f"vision_backbone must be a ResNet variant, got {self.vision_backbone!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ConfigError(
                f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}"
            )
        if self.noise_scheduler_type not in NOISE_SCHEDULERS:
            raise ConfigError(
                f"noise_scheduler_type must be one of {NOISE_SCHEDULERS}, got {self.noise_scheduler_type!r}"
            )
        if self.resize_shape is not None and (len(self.resize_shape) != 2 or min(self.resize_shape) <= 0):
            raise ConfigError(f"resize_shape must be two positive integers (H, W), got {self.resize_shape}")
        if not 0 < self.crop_ratio <= 1:
            raise ConfigError(f"crop_ratio must be in (0, 1], got {self.crop_ratio}")
        if self.resize_shape is not None:
            # lerobot derives the crop from the resize; a ratio of 1 means no crop.
            self.crop_shape = (
                (int(self.resize_shape[0] * self.crop_ratio), int(self.resize_shape[1] * self.crop_ratio))
                if self.crop_ratio < 1
                else None
            )
        if self.crop_shape is not None and min(self.crop_shape) <= 0:
            raise ConfigError(f"crop_shape must have positive dimensions, got {self.crop_shape}")
        factor = 2 ** (len(self.down_dims) - 1)
        if self.horizon % factor:
            raise ConfigError(
                f"horizon ({self.horizon}) must be a multiple of {factor}: the UNet halves the time axis "
                f"{len(self.down_dims) - 1} times (down_dims={list(self.down_dims)})"
            )
        if not 1 <= self.n_action_steps <= self.horizon - self.n_obs_steps + 1:
            raise ConfigError(
                f"n_action_steps ({self.n_action_steps}) must be between 1 and horizon - n_obs_steps + 1 "
                f"({self.horizon - self.n_obs_steps + 1}): executed actions start at the current frame"
            )
        if self.use_group_norm and self.pretrained_backbone_weights is not None:
            raise ConfigError(
                "use_group_norm replaces the backbone's batch norms, which would spoil the pretrained "
                f"weights {self.pretrained_backbone_weights!r} (lerobot's default): set "
                "pretrained_backbone_weights=null or use_group_norm=false"
            )

    def validate_features(self) -> None:
        super().validate_features()
        if self.robot_state_feature is None:
            raise FeatureError(
                "diffusion needs 'observation.state' among its input features; it has "
                f"{sorted(self.input_features)}"
            )
        images = self.image_features
        if self.resize_shape is None and self.crop_shape is not None:
            for key, feature in images.items():
                if self.crop_shape[0] > feature.shape[1] or self.crop_shape[1] > feature.shape[2]:
                    raise FeatureError(
                        f"crop_shape {list(self.crop_shape)} does not fit in {key!r} {list(feature.shape)}: "
                        "lower crop_shape or set resize_shape"
                    )
        shapes = {key: feature.shape for key, feature in images.items()}
        if len(set(shapes.values())) > 1:
            raise FeatureError(
                f"diffusion needs all cameras to have one shape; got {shapes} (set resize_shape)"
            )

    @property
    def observation_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, 1))

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, 1 - self.n_obs_steps + self.horizon))

    @property
    def chunk_length(self) -> int:
        return self.n_action_steps

    def make_optimizer(self, params: Iterable[Any]) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            params,
            lr=self.optimizer_lr,
            betas=tuple(self.optimizer_betas),
            eps=self.optimizer_eps,
            weight_decay=self.optimizer_weight_decay,
            fused=self.fused_optimizer,
        )

    def make_scheduler(
        self, optimizer: torch.optim.Optimizer, num_training_steps: int
    ) -> torch.optim.lr_scheduler.LRScheduler:
        return get_scheduler(
            self.scheduler_name,
            optimizer=optimizer,
            num_warmup_steps=self.scheduler_warmup_steps,
            num_training_steps=num_training_steps,
        )
