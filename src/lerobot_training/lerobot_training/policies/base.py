"""What every policy shares: the config fields lerobot writes to config.json, and the policy interface."""

from __future__ import annotations

import abc
import dataclasses
import logging
import types
import typing
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from lerobot_training.features import (
    ACTION,
    OBS_ENV_STATE,
    OBS_STATE,
    FeatureError,
    FeatureType,
    PolicyFeature,
    check_features_in_dataset,
)
from lerobot_training.normalization import NormalizationMode

if TYPE_CHECKING:
    from lerobot_training.processor import PolicyProcessor

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A policy config (or a config.json) has an unknown key, a wrong value or an impossible combination."""


def resolve_device(requested: str | None) -> str:
    """``requested`` when this machine has it, else the best available device (as lerobot does)."""
    best = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if requested is None:
        return best
    try:
        kind = torch.device(requested).type
    except RuntimeError as err:
        raise ConfigError(
            f"device {requested!r} is not a torch device; use e.g. 'cpu', 'cuda', 'cuda:1'"
        ) from err
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(kind, False):
        logger.warning("device %r is not available on this machine; using %r", requested, best)
        return best
    return requested


@dataclasses.dataclass
class PolicyConfig(abc.ABC):
    """Fields common to all policies, in lerobot's config.json order (``type`` is written first), and the
    capabilities a policy may have (see "capabilities" below).

    Only dataclass fields are written to config.json. A capability is declared here once, as a property
    giving the value of a policy without it; a policy whose lerobot config.json has the key overrides it
    with a field of that name (so the key is written for that policy only, as lerobot writes it), any other
    with a property. Nothing reads a config with getattr.
    """

    type: ClassVar[str]

    # Observed frames one prediction sees (the current one and those before it, at the dataset's rate).
    n_obs_steps: int = 1
    input_features: dict[str, PolicyFeature] = dataclasses.field(default_factory=dict)
    output_features: dict[str, PolicyFeature] = dataclasses.field(default_factory=dict)
    device: str | None = None  # None: the best device of this machine
    use_amp: bool = False
    # Hub and PEFT bookkeeping that lerobot keeps in config.json: carried so the file round-trips unchanged.
    use_peft: bool = False
    push_to_hub: bool = True
    repo_id: str | None = None
    private: bool | None = None
    tags: list[str] | None = None
    license: str | None = None
    pretrained_path: str | None = None
    pretrained_revision: str | None = None

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device)
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, hints[f.name], getattr(self, f.name)))

    # -- features -------------------------------------------------------------------------------------------
    @property
    def image_features(self) -> dict[str, PolicyFeature]:
        return {k: ft for k, ft in self.input_features.items() if ft.type is FeatureType.VISUAL}

    @property
    def image_sizes(self) -> dict[str, tuple[int, ...]]:
        """Camera → (height, width) the policy takes: the training and evaluation loaders bring a dataset's
        images to it (``LeRobotTorchDataset(image_sizes=...)``), a policy node a live camera's."""
        return {k: ft.shape[1:] for k, ft in self.image_features.items()}

    @property
    def robot_state_feature(self) -> PolicyFeature | None:
        feature = self.input_features.get(OBS_STATE)
        return feature if feature is not None and feature.type is FeatureType.STATE else None

    @property
    def env_state_feature(self) -> PolicyFeature | None:
        feature = self.input_features.get(OBS_ENV_STATE)
        return feature if feature is not None and feature.type is FeatureType.ENV else None

    @property
    def action_feature(self) -> PolicyFeature:
        feature = self.output_features.get(ACTION)
        if feature is None or feature.type is not FeatureType.ACTION:
            raise FeatureError(
                f"{self.type} needs an 'action' ACTION output feature; output_features is "
                f"{ {k: v.to_dict() for k, v in self.output_features.items()} }"
            )
        return feature

    def validate_features(self) -> None:
        """Raise FeatureError when the features cannot drive this policy (called when a policy is built)."""
        _ = self.action_feature  # raises when absent
        if not self.image_features and self.env_state_feature is None:
            raise FeatureError(
                f"{self.type} needs at least one camera (VISUAL) or 'observation.environment_state' among "
                f"its input features; it has {sorted(self.input_features)}"
            )

    # -- dataset window -------------------------------------------------------------------------------------
    @property
    def observation_delta_indices(self) -> list[int] | None:
        """Frame offsets of the observations in one training sample (None: the current frame only)."""
        return None

    @property
    @abc.abstractmethod
    def action_delta_indices(self) -> list[int]:
        """Frame offsets of the actions in one training sample."""

    @property
    def reward_delta_indices(self) -> list[int] | None:
        """Frame offsets of ``next.reward`` in one training sample (None: rewards are not loaded)."""
        return None

    # -- capabilities ---------------------------------------------------------------------------------------
    @property
    def chunk_length(self) -> int:
        """Actions of each predicted chunk executed before the policy plans again (lerobot's
        ``n_action_steps``): what one chunk contributes to the robot's queue. 1: it plans every step."""
        return 1

    @property
    def temporal_ensemble_coeff(self) -> float | None:
        """ACT's temporal ensembling: plan every step and average the predictions of every chunk covering it,
        weighted exp(-coeff · i), oldest first. None: no ensembling."""
        return None

    @property
    def rtc_enabled(self) -> bool:
        """Whether real-time chunking is on (lerobot's ``rtc_config``), for a policy that ``supports_rtc``."""
        return False

    @property
    def max_action_dim(self) -> int:
        """Width of the policy's action vectors; a wider one than the action feature's means actions are
        zero-padded to it (π₀: 32). Default: the action feature's own width."""
        return self.action_feature.shape[-1]

    @property
    def pretrained_backbone_weights(self) -> str | None:
        """Weights (torchvision's name) the vision backbone starts from, downloaded when the policy is built
        (None: none). A policy built to load a checkpoint's weights is built without them."""
        return None

    @property
    def drop_n_last_frames(self) -> int:
        """Frames at the end of each episode that never start a training sample."""
        return 0

    @property
    def optimizer_grad_clip_norm(self) -> float | None:
        """The policy's gradient-clipping preset (None: the training option ``--grad_clip_norm``)."""
        return None

    def fit_pretrained_features(self, available: Mapping[str, PolicyFeature]) -> list[str]:
        """Refit a pretrained policy's features (the checkpoint's dataset's) to those of the dataset it is
        fine-tuned on (``available``, in the dataset's order), in place; returns what changed, for the
        training log. Default: the weights are sized by the features, so the dataset must have each with its
        shape."""
        try:
            check_features_in_dataset(self.output_features, available, "output")
            check_features_in_dataset(self.input_features, available, "input")
        except FeatureError as err:
            raise FeatureError(
                f"the pretrained {self.type} checkpoint does not fit this dataset, and {self.type} weights "
                "are sized by the features: fine-tune on a dataset with the checkpoint's features, or train "
                f"from scratch with --policy.type={self.type}. {err}"
            ) from None
        return [f"features: the checkpoint's {sorted(self.input_features)} -> {sorted(self.output_features)}"]

    # -- optimization presets -------------------------------------------------------------------------------
    @abc.abstractmethod
    def make_optimizer(self, params: Iterable[Any]) -> torch.optim.Optimizer:
        """lerobot's optimizer preset for this policy over ``params`` (a policy's ``get_optim_params()``)."""

    @property
    def fused_optimizer(self) -> bool | None:
        """``fused`` for torch's Adam/AdamW on this policy's device: the fused kernel updates every parameter
        in one pass instead of a dozen tensor operations per parameter (one CPU core: ~0.3 s of ACT's step,
        ~4 s of Diffusion's; the same updates up to float rounding). None (torch's own choice) on devices
        without that kernel."""
        return True if torch.device(self.device).type in ("cpu", "cuda") else None

    def make_scheduler(
        self, optimizer: torch.optim.Optimizer, num_training_steps: int
    ) -> torch.optim.lr_scheduler.LRScheduler | None:
        """lerobot's learning-rate scheduler preset (None: constant learning rate)."""
        return None

    # -- config.json ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            out[f.name] = _to_json(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyConfig:
        """Build from a config.json dict; unknown keys are errors (a typo must not become a default)."""
        data = dict(data)
        declared = data.pop("type", cls.type)
        if declared != cls.type:
            raise ConfigError(f"config declares type {declared!r} but is being read as {cls.type!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{cls.type} config has unknown key(s) {unknown}; valid keys are {sorted(known)}. Remove or "
                "rename them (the file may come from another lerobot version or another policy)."
            )
        try:
            return cls(**data)
        except TypeError as err:
            raise ConfigError(f"{cls.type} config is malformed: {err}") from err


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    """JSON values (lists, strings, plain dicts) into the field's declared type."""
    if value is None:
        return None
    if name in ("input_features", "output_features"):
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{name} must be a mapping of feature name to {{'type', 'shape'}}, got {value!r}"
            )
        return {
            str(k): v if isinstance(v, PolicyFeature) else PolicyFeature.from_dict(k, v)
            for k, v in value.items()
        }
    if name == "normalization_mapping":
        try:
            return {str(k): NormalizationMode(v) for k, v in value.items()}
        except (AttributeError, ValueError) as err:
            modes = [m.value for m in NormalizationMode]
            raise ConfigError(
                f"normalization_mapping must map feature types to one of {modes}: {err}"
            ) from err
    wants_tuple = typing.get_origin(annotation) is tuple or (
        isinstance(annotation, types.UnionType)
        and any(typing.get_origin(arg) is tuple for arg in typing.get_args(annotation))
    )
    if wants_tuple and isinstance(value, list):
        return tuple(value)
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, PolicyFeature):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


class Policy(nn.Module, abc.ABC):
    """A policy works in the normalized space: run the preprocessor before it and the postprocessor after.

    Batches are dicts of tensors keyed by feature name, as the dataset's windows and lerobot use them.
    """

    config_class: ClassVar[type[PolicyConfig]]
    # Real-time chunking: ``predict_action_chunk(batch, prev_actions=..., inference_delay=...)`` continues the
    # queued actions (``prev_actions``, normalized, padded or not); the config's ``rtc_enabled`` turns it on.
    supports_rtc: ClassVar[bool] = False
    # Weight names a checkpoint file may lack: {name: the file's name to load it from instead}.
    alternate_weights: ClassVar[Mapping[str, str]] = {}

    def __init__(self, config: PolicyConfig) -> None:
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config)}"
            )
        config.validate_features()
        super().__init__()
        self.config = config

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the action queue / observation history (call at the start of every episode)."""

    @abc.abstractmethod
    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Training loss of a batch, and its parts as floats for logging."""

    @abc.abstractmethod
    def predict_action_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        """The actions (B, n, action_dim) the policy would execute from these observations."""

    @abc.abstractmethod
    def select_action(self, batch: dict[str, Tensor]) -> Tensor:
        """One action (B, action_dim) for the current step; re-plans only when its queue runs out."""

    def get_optim_params(self) -> Iterable[Any]:
        """Parameters (or parameter groups) for the config's optimizer preset."""
        return [p for p in self.parameters() if p.requires_grad]

    # -- fine-tuning hooks ----------------------------------------------------------------------------------
    def add_adapters(self) -> None:
        """Add LoRA adapters (lerobot's ``use_peft``) to this policy, its weights loaded, in place; only they
        stay trainable."""
        raise ConfigError(
            f"use_peft (LoRA adapters) is not implemented for {self.config.type}: fine-tune it without "
            "--policy.use_peft"
        )

    @classmethod
    def fit_pretrained_preprocessor(cls, preprocessor: PolicyProcessor, pretrained_dir: Path) -> list[str]:
        """Give a fine-tuning run's new preprocessor, in place, what the pretrained checkpoint in
        ``pretrained_dir`` was trained with where its weights depend on it; returns notes for the training
        log. Default: nothing (normalization statistics come from the new dataset)."""
        return []
