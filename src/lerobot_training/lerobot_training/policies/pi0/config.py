"""π₀ configuration: lerobot 0.6.1's keys and defaults (see specs/lerobot-reference/pi0.config.json), the
model sizes behind its variant names, and its optimizer/scheduler presets."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from lerobot_training.features import ACTION, FeatureError, FeatureType, PolicyFeature
from lerobot_training.normalization import NormalizationMode
from lerobot_training.policies.base import ConfigError, PolicyConfig

DTYPES = ("float32", "bfloat16")
MAX_CAMERAS = 3  # π₀'s image slots: a base and two wrist cameras
RTC_KEYS = ("enabled", "execution_horizon", "max_guidance_weight")
RTC_DEFAULTS: dict[str, Any] = {"enabled": False, "execution_horizon": 10, "max_guidance_weight": 10.0}


@dataclasses.dataclass(frozen=True)
class GemmaSize:
    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


@dataclasses.dataclass(frozen=True)
class SiglipSize:
    hidden: int
    depth: int
    mlp_dim: int
    num_heads: int
    patch: int


# The real sizes (PaliGemma 3B's Gemma 2B, π₀'s Gemma-300M expert) and tiny ones that run on a CPU in tests.
# Expert and backbone share attention layer by layer: same depth, heads, KV heads and head_dim. The tiny ones
# keep 8 heads: lerobot's joint attention reshapes to 8 heads whatever the variant, so a tiny model with fewer
# would not train in lerobot (the interoperability tests run lerobot's code at these sizes).
GEMMA_VARIANTS: dict[str, GemmaSize] = {
    "gemma_2b": GemmaSize(2048, 18, 16384, 8, 1, 256),
    "gemma_300m": GemmaSize(1024, 18, 4096, 8, 1, 256),
    "dummy": GemmaSize(64, 2, 128, 8, 1, 8),
    "dummy_expert": GemmaSize(32, 2, 64, 8, 1, 8),
}
# The vision tower, vocabulary and image projection follow the backbone variant. lerobot builds every real
# backbone (gemma_2b, gemma_300m) with So400m/14, PaliGemma's vocabulary and a 2048-wide image projection;
# the dummy one has a 2-layer SigLIP, a 1024-token vocabulary and a projection as wide as its Gemma.
SO400M = SiglipSize(1152, 27, 4304, 16, 14)
SIGLIP_FOR_BACKBONE: dict[str, SiglipSize] = {
    "gemma_2b": SO400M,
    "gemma_300m": SO400M,
    "dummy": SiglipSize(32, 2, 64, 2, 14),
}
VOCAB_FOR_BACKBONE: dict[str, int] = {"gemma_2b": 257152, "gemma_300m": 257152, "dummy": 1024}
IMAGE_PROJECTION_FOR_BACKBONE: dict[str, int] = {"gemma_2b": 2048, "gemma_300m": 2048, "dummy": 64}
BACKBONE_VARIANTS = tuple(SIGLIP_FOR_BACKBONE)


@dataclasses.dataclass
class PI0Config(PolicyConfig):
    """π₀ (Black et al. 2024): PaliGemma (SigLIP + Gemma 2B) reads cameras and the task text; a Gemma action
    expert sharing its attention denoises ``chunk_size`` actions by flow matching, conditioned on the state.

    Inputs: ``observation.state`` and up to 3 cameras (plus ``empty_cameras`` placeholders), the task text
    (batch key ``task``, tokenized by the preprocessor); output ``action``. State and action are zero-padded
    to ``max_state_dim``/``max_action_dim``. ``rtc_config`` (lerobot's key) enables Real-Time Chunking:
    ``{"enabled": true, "execution_horizon": 10, "max_guidance_weight": 10.0}``.
    """

    type = "pi0"

    paligemma_variant: str = "gemma_2b"
    action_expert_variant: str = "gemma_300m"
    dtype: str = "float32"
    chunk_size: int = 50
    n_action_steps: int = 50
    max_state_dim: int = 32
    max_action_dim: int = 32
    num_inference_steps: int = 10
    time_sampling_beta_alpha: float = 1.5
    time_sampling_beta_beta: float = 1.0
    time_sampling_scale: float = 0.999
    time_sampling_offset: float = 0.001
    min_period: float = 4e-3
    max_period: float = 4.0
    # Relative actions (lerobot 0.6): carried so config.json round-trips; not implemented here.
    use_relative_actions: bool = False
    relative_exclude_joints: list[str] = dataclasses.field(default_factory=lambda: ["gripper"])
    action_feature_names: list[str] | None = None
    rtc_config: dict[str, Any] | None = None
    image_resolution: tuple[int, int] = (224, 224)
    empty_cameras: int = 0
    normalization_mapping: dict[str, NormalizationMode] = dataclasses.field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.IDENTITY,
            "STATE": NormalizationMode.MEAN_STD,
            "ACTION": NormalizationMode.MEAN_STD,
        }
    )
    gradient_checkpointing: bool = False
    compile_model: bool = False
    compile_mode: str = "max-autotune"
    freeze_vision_encoder: bool = False
    train_expert_only: bool = False
    # Optimizer preset (AdamW, cosine decay with warm-up), as openpi trains π₀.
    optimizer_lr: float = 2.5e-5
    optimizer_betas: tuple[float, float] = (0.9, 0.95)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 0.01
    optimizer_grad_clip_norm: float = 1.0
    scheduler_warmup_steps: int = 1000
    scheduler_decay_steps: int = 30000
    scheduler_decay_lr: float = 2.5e-6
    tokenizer_max_length: int = 48

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.paligemma_variant not in BACKBONE_VARIANTS:
            raise ConfigError(
                f"paligemma_variant must be one of {list(BACKBONE_VARIANTS)}, got {self.paligemma_variant!r}"
            )
        if self.action_expert_variant not in GEMMA_VARIANTS:
            raise ConfigError(
                f"action_expert_variant must be one of {list(GEMMA_VARIANTS)}, "
                f"got {self.action_expert_variant!r}"
            )
        backbone, expert = self.backbone_size, self.expert_size
        shared = ("depth", "num_heads", "num_kv_heads", "head_dim")
        if any(getattr(backbone, name) != getattr(expert, name) for name in shared):
            raise ConfigError(
                f"the action expert shares attention with the backbone layer by layer, so {shared} must be "
                f"equal: {self.paligemma_variant} has {backbone}, {self.action_expert_variant} has {expert}"
            )
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ConfigError(
                f"n_action_steps ({self.n_action_steps}) must be between 1 and chunk_size ({self.chunk_size})"
            )
        if self.n_obs_steps != 1:
            raise ConfigError(
                f"π₀ uses the current observation only: n_obs_steps must be 1, got {self.n_obs_steps}"
            )
        if self.num_inference_steps < 1:
            raise ConfigError(f"num_inference_steps must be at least 1, got {self.num_inference_steps}")
        if self.use_relative_actions:
            raise ConfigError("use_relative_actions is not supported by this package yet: set it to false")
        side = self.image_resolution[0]
        if (
            len(self.image_resolution) != 2
            or len(set(self.image_resolution)) != 1
            or side <= 0
            or (side % self.siglip_size.patch)
        ):
            # SigLIP's position embeddings cover a square grid of patches.
            raise ConfigError(
                f"image_resolution must be square, a multiple of the patch size {self.siglip_size.patch}, "
                f"got {list(self.image_resolution)}"
            )
        if self.empty_cameras < 0:
            raise ConfigError(f"empty_cameras must be 0 or more, got {self.empty_cameras}")
        if self.rtc_config is not None:
            if not isinstance(self.rtc_config, Mapping) or set(self.rtc_config) - set(RTC_KEYS):
                raise ConfigError(
                    f"rtc_config must be null or a mapping with keys {list(RTC_KEYS)}, "
                    f"got {self.rtc_config!r}"
                )
            self.rtc_config = {**RTC_DEFAULTS, **self.rtc_config}

    # -- model sizes ----------------------------------------------------------------------------------------
    @property
    def backbone_size(self) -> GemmaSize:
        return GEMMA_VARIANTS[self.paligemma_variant]

    @property
    def expert_size(self) -> GemmaSize:
        return GEMMA_VARIANTS[self.action_expert_variant]

    @property
    def siglip_size(self) -> SiglipSize:
        return SIGLIP_FOR_BACKBONE[self.paligemma_variant]

    @property
    def vocab_size(self) -> int:
        return VOCAB_FOR_BACKBONE[self.paligemma_variant]

    @property
    def image_projection_dim(self) -> int:
        """Width of the image tokens; lerobot's gemma_300m backbone gets 2048, wider than its Gemma (1024),
        so that variant builds (its checkpoints load) but cannot run, in lerobot as here."""
        return IMAGE_PROJECTION_FOR_BACKBONE[self.paligemma_variant]

    # -- Real-Time Chunking ---------------------------------------------------------------------------------
    @property
    def rtc_enabled(self) -> bool:
        return bool(self.rtc_config and self.rtc_config["enabled"])

    @property
    def rtc_execution_horizon(self) -> int:
        return int((self.rtc_config or RTC_DEFAULTS)["execution_horizon"])

    @property
    def rtc_max_guidance(self) -> float:
        return float((self.rtc_config or RTC_DEFAULTS)["max_guidance_weight"])

    # -- features -------------------------------------------------------------------------------------------
    def validate_features(self) -> None:
        super().validate_features()
        state = self.robot_state_feature
        if state is None:
            raise FeatureError(
                "pi0 needs 'observation.state' among its input features; it has "
                f"{sorted(self.input_features)}"
            )
        if not self.image_features:
            raise FeatureError(
                f"pi0 needs at least one camera; its input features are {sorted(self.input_features)}"
            )
        if state.shape[-1] > self.max_state_dim:
            raise FeatureError(
                f"observation.state has {state.shape[-1]} dimensions, more than max_state_dim "
                f"({self.max_state_dim}): raise max_state_dim (a pretrained model fixes it)"
            )
        if self.action_feature.shape[-1] > self.max_action_dim:
            raise FeatureError(
                f"action has {self.action_feature.shape[-1]} dimensions, more than max_action_dim "
                f"({self.max_action_dim}): raise max_action_dim (a pretrained model fixes it)"
            )

    def fit_pretrained_features(self, available: Mapping[str, PolicyFeature]) -> list[str]:
        """Refit a pretrained π₀ to another dataset's features (``available``, in the dataset's order), in
        place; returns what changed, for the training log. No weight depends on them: state and action are
        zero-padded to max_state_dim/max_action_dim (the policy checks the dims when built), and the dataset's
        cameras take the image slots in order: the checkpoint's (its cameras, then its empty cameras), up to
        MAX_CAMERAS; slots of the checkpoint left over stay as empty cameras."""
        old_cameras = list(self.image_features)
        old_slots = len(old_cameras) + self.empty_cameras
        slots = max(old_slots, MAX_CAMERAS)
        cameras = [key for key, ft in available.items() if ft.type is FeatureType.VISUAL]
        used, ignored = cameras[:slots], cameras[slots:]
        old_state, old_action = self.robot_state_feature, self.output_features.get(ACTION)
        self.input_features = {
            key: ft
            for key, ft in available.items()
            if ft.type not in (FeatureType.VISUAL, FeatureType.ACTION) or key in used
        }
        self.output_features = {key: ft for key, ft in available.items() if ft.type is FeatureType.ACTION}
        self.empty_cameras = max(old_slots - len(used), 0)

        def dims(feature: PolicyFeature | None) -> str:
            return str(feature.shape[-1]) if feature is not None else "none"

        new_state, new_action = self.robot_state_feature, self.output_features.get(ACTION)
        was = [*old_cameras, *["empty camera"] * (old_slots - len(old_cameras)), *["new"] * slots]
        notes = [
            f"state: {dims(old_state)} -> {dims(new_state)} dims, action: {dims(old_action)} -> "
            f"{dims(new_action)} dims (zero-padded to {self.max_state_dim}/{self.max_action_dim})",
            "image slots: "
            + "; ".join(
                f"{index} ({was[index]}): {used[index] if index < len(used) else 'empty camera'}"
                for index in range(len(used) + self.empty_cameras)
            ),
        ]
        if ignored:
            notes.append(f"cameras not used (π₀ takes {slots}, in the dataset's order): {ignored}")
        return notes

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))

    @property
    def chunk_length(self) -> int:
        return self.n_action_steps

    # -- optimization presets -------------------------------------------------------------------------------
    def make_optimizer(self, params: Iterable[Any]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            params,
            lr=self.optimizer_lr,
            betas=tuple(self.optimizer_betas),
            eps=self.optimizer_eps,
            weight_decay=self.optimizer_weight_decay,
        )

    def make_scheduler(
        self, optimizer: torch.optim.Optimizer, num_training_steps: int
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """Linear warm-up to optimizer_lr, then cosine decay to scheduler_decay_lr. A run shorter than
        scheduler_decay_steps squeezes both phases proportionally into it (as lerobot does)."""
        warmup, decay = self.scheduler_warmup_steps, self.scheduler_decay_steps
        if num_training_steps < decay:
            warmup, decay = int(warmup * num_training_steps / decay), num_training_steps
        floor = self.scheduler_decay_lr / self.optimizer_lr

        def factor(step: int) -> float:
            if step < warmup:
                start = 1 / (warmup + 1)
                return start + (1 - start) * step / warmup
            progress = min(step, decay) / max(decay, 1)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
