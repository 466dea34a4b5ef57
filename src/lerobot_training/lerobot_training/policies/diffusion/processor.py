"""Diffusion Policy's pre/post-processing: lerobot's standard normalizing pipeline with its
normalization_mapping (MIN_MAX for state and action: clip_sample assumes actions in [-1, 1])."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lerobot_training.policies.diffusion.config import DiffusionConfig
from lerobot_training.processor import PolicyProcessor, make_normalizing_processors


def make_diffusion_processors(
    config: DiffusionConfig, dataset_stats: Mapping[str, Mapping[str, Any]]
) -> tuple[PolicyProcessor, PolicyProcessor]:
    """(preprocessor, postprocessor) for a Diffusion policy, from the dataset's meta/stats.json content."""
    return make_normalizing_processors(
        config.input_features,
        config.output_features,
        config.normalization_mapping,
        dataset_stats,
        config.device,
    )
