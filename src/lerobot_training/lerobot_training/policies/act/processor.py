"""ACT's pre/post-processing: lerobot's standard normalizing pipeline with ACT's normalization_mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lerobot_training.policies.act.config import ACTConfig
from lerobot_training.processor import PolicyProcessor, make_normalizing_processors


def make_act_processors(
    config: ACTConfig, dataset_stats: Mapping[str, Mapping[str, Any]]
) -> tuple[PolicyProcessor, PolicyProcessor]:
    """(preprocessor, postprocessor) for an ACT policy, from the dataset's meta/stats.json content."""
    return make_normalizing_processors(
        config.input_features,
        config.output_features,
        config.normalization_mapping,
        dataset_stats,
        config.device,
    )
