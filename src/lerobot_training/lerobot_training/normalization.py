"""Normalization of features from dataset statistics, shared by every policy.

Modes and formulas follow lerobot: MEAN_STD → (x − mean) / (std + eps); MIN_MAX, QUANTILES (q01/q99) and
QUANTILE10 (q10/q90) → [-1, 1] between the low and high statistic; IDENTITY → unchanged. The normalizer and
unnormalizer steps below are the processor steps saved next to a checkpoint; their state is every dataset
statistic flattened to ``<feature>.<stat>`` tensors, as lerobot stores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from lerobot_training.features import FeatureType, PolicyFeature

DEFAULT_EPS = 1e-8


class StatsError(ValueError):
    """Dataset statistics are missing or malformed for the normalization asked for."""


class NormalizationMode(str, Enum):
    MEAN_STD = "MEAN_STD"
    MIN_MAX = "MIN_MAX"
    IDENTITY = "IDENTITY"
    QUANTILES = "QUANTILES"
    QUANTILE10 = "QUANTILE10"


# The two statistics each mode reads: (centre, scale) for MEAN_STD, (low, high) for the range modes.
REQUIRED_STATS: dict[NormalizationMode, tuple[str, ...]] = {
    NormalizationMode.MEAN_STD: ("mean", "std"),
    NormalizationMode.MIN_MAX: ("min", "max"),
    NormalizationMode.QUANTILES: ("q01", "q99"),
    NormalizationMode.QUANTILE10: ("q10", "q90"),
    NormalizationMode.IDENTITY: (),
}


def normalize(
    x: Tensor, mode: NormalizationMode, stats: Mapping[str, Tensor], eps: float = DEFAULT_EPS
) -> Tensor:
    """Map ``x`` to the normalized space of ``mode``; ``stats`` broadcast against x's trailing dimensions."""
    if mode is NormalizationMode.IDENTITY:
        return x
    first, second = (stats[name].to(device=x.device, dtype=x.dtype) for name in REQUIRED_STATS[mode])
    if mode is NormalizationMode.MEAN_STD:
        return (x - first) / (second + eps)
    return 2 * (x - first) / _span(first, second, eps) - 1


def unnormalize(
    x: Tensor, mode: NormalizationMode, stats: Mapping[str, Tensor], eps: float = DEFAULT_EPS
) -> Tensor:
    """Exact inverse of :func:`normalize`."""
    if mode is NormalizationMode.IDENTITY:
        return x
    first, second = (stats[name].to(device=x.device, dtype=x.dtype) for name in REQUIRED_STATS[mode])
    if mode is NormalizationMode.MEAN_STD:
        return x * (second + eps) + first
    return (x + 1) / 2 * _span(first, second, eps) + first


def _span(low: Tensor, high: Tensor, eps: float) -> Tensor:
    # A constant dimension (high == low) would divide by zero; eps keeps it finite and maps it to -1.
    span = high - low
    return torch.where(span == 0, torch.full_like(span, eps), span)


def flatten_stats(stats: Mapping[str, Mapping[str, Any]]) -> dict[str, Tensor]:
    """``{feature: {stat: array}}`` (meta/stats.json) → ``{"<feature>.<stat>": float32 tensor}``."""
    flat = {}
    for feature, feature_stats in stats.items():
        for stat, value in feature_stats.items():
            try:
                array = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, np.float32)
            except (TypeError, ValueError) as err:
                raise StatsError(f"statistic {feature}.{stat} is not numeric: {value!r}") from err
            flat[f"{feature}.{stat}"] = torch.from_numpy(np.array(array, ndmin=1))
    return flat


def unflatten_stats(flat: Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
    """Inverse of :func:`flatten_stats` (feature names contain dots; statistic names do not)."""
    stats: dict[str, dict[str, Tensor]] = {}
    for key, value in flat.items():
        feature, _, stat = key.rpartition(".")
        stats.setdefault(feature, {})[stat] = value
    return stats


class _NormalizationStep:
    """Common part of the normalizer and unnormalizer processor steps (lerobot's keys and file layout)."""

    registry_name: ClassVar[str]

    def __init__(
        self,
        features: Mapping[str, PolicyFeature],
        norm_map: Mapping[str, NormalizationMode],
        stats: Mapping[str, Tensor],
        eps: float = DEFAULT_EPS,
    ) -> None:
        self.features = dict(features)
        self.norm_map = {str(k): NormalizationMode(v) for k, v in norm_map.items()}
        self.eps = float(eps)
        self.stats = {key: value.detach().to("cpu", torch.float32) for key, value in stats.items()}
        # Per-channel image statistics broadcast over (..., C, H, W): lerobot reshapes every statistic of the
        # step's VISUAL features to (-1, 1, 1), counts included; we keep the same shapes in the saved file.
        for name, feature in self.features.items():
            if feature.type is FeatureType.VISUAL:
                for key in [k for k in self.stats if k.rpartition(".")[0] == name]:
                    self.stats[key] = self.stats[key].reshape(-1, 1, 1)
        self._per_feature = unflatten_stats(self.stats)
        self._check_stats()

    @classmethod
    def from_dataset_stats(
        cls,
        features: Mapping[str, PolicyFeature],
        norm_map: Mapping[str, NormalizationMode],
        dataset_stats: Mapping[str, Mapping[str, Any]],
        eps: float = DEFAULT_EPS,
    ) -> _NormalizationStep:
        return cls(features, norm_map, flatten_stats(dataset_stats), eps)

    def mode_of(self, name: str) -> NormalizationMode:
        return self.norm_map.get(self.features[name].type.value, NormalizationMode.IDENTITY)

    def _check_stats(self) -> None:
        missing = []
        for name in self.features:
            for stat in REQUIRED_STATS[self.mode_of(name)]:
                if stat not in self._per_feature.get(name, {}):
                    missing.append(f"{name}.{stat} ({self.mode_of(name).value})")
        if missing:
            raise StatsError(
                f"{self.registry_name}: dataset statistics lack {missing}. Recompute the dataset's "
                "meta/stats.json, or map these feature types to IDENTITY in normalization_mapping."
            )
        non_finite = [
            f"{name}.{stat}"
            for name in self.features
            for stat, value in self._per_feature.get(name, {}).items()
            if not torch.isfinite(value).all()
        ]
        if non_finite:  # they would turn every normalized value, and then every weight, into NaN
            raise StatsError(
                f"{self.registry_name}: statistics {non_finite} hold NaN or infinite values. Recompute the "
                "dataset's meta/stats.json (`lerobot-ros-dataset validate` checks it)."
            )

    def get_config(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "features": {name: feature.to_dict() for name, feature in self.features.items()},
            "norm_map": {key: mode.value for key, mode in self.norm_map.items()},
        }

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self.stats)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state: Mapping[str, Tensor]) -> _NormalizationStep:
        features = {name: PolicyFeature.from_dict(name, ft) for name, ft in config["features"].items()}
        return cls(features, config["norm_map"], state, config.get("eps", DEFAULT_EPS))

    def _apply(self, batch: dict[str, Any], function: Any) -> dict[str, Any]:
        out = dict(batch)
        for name in self.features:
            if name in out:
                out[name] = function(out[name], self.mode_of(name), self._per_feature.get(name, {}), self.eps)
        return out


class NormalizerStep(_NormalizationStep):
    """Pre-processing: observations and (when training) the action into the normalized space."""

    registry_name = "normalizer_processor"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return self._apply(batch, normalize)


class UnnormalizerStep(_NormalizationStep):
    """Post-processing: the policy's normalized action back to dataset units."""

    registry_name = "unnormalizer_processor"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return self._apply(batch, unnormalize)


__all__ = [
    "DEFAULT_EPS",
    "REQUIRED_STATS",
    "NormalizationMode",
    "NormalizerStep",
    "StatsError",
    "UnnormalizerStep",
    "flatten_stats",
    "normalize",
    "unflatten_stats",
    "unnormalize",
]
