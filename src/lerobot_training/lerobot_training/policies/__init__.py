"""Policies registered by name (lerobot's ``type``), and the factory that builds them from a dataset."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lerobot_training.features import (
    FeatureType,
    check_features_in_dataset,
    dataset_to_policy_features,
)
from lerobot_training.policies.act import ACTConfig, ACTPolicy, make_act_processors
from lerobot_training.policies.base import ConfigError, Policy, PolicyConfig
from lerobot_training.policies.diffusion import DiffusionConfig, DiffusionPolicy, make_diffusion_processors
from lerobot_training.policies.pi0 import PI0Config, PI0Policy, make_pi0_processors
from lerobot_training.processor import PolicyProcessor


@dataclass(frozen=True)
class PolicyType:
    name: str
    config_class: type[PolicyConfig]
    policy_class: type[Policy]
    make_processors: Callable[[Any, Mapping[str, Mapping[str, Any]]], tuple[PolicyProcessor, PolicyProcessor]]


POLICY_TYPES: dict[str, PolicyType] = {
    "act": PolicyType("act", ACTConfig, ACTPolicy, make_act_processors),
    "diffusion": PolicyType("diffusion", DiffusionConfig, DiffusionPolicy, make_diffusion_processors),
    "pi0": PolicyType("pi0", PI0Config, PI0Policy, make_pi0_processors),
}


def get_policy_type(name: str) -> PolicyType:
    try:
        return POLICY_TYPES[name]
    except KeyError:
        raise ConfigError(f"unknown policy type {name!r}; available: {sorted(POLICY_TYPES)}") from None


def make_policy_config(name: str, **options: Any) -> PolicyConfig:
    """A policy config with lerobot's defaults, overridden by ``options`` (config field names)."""
    config_class = get_policy_type(name).config_class
    return config_class.from_dict({"type": name, **options})


def fit_features_to_dataset(config: PolicyConfig, dataset_features: Mapping[str, Mapping[str, Any]]) -> None:
    """Fill the config's empty input/output features from a dataset's info.json ``features``; check the ones
    it already has (a policy asking for a camera the dataset lacks is an error naming it)."""
    available = dataset_to_policy_features(dataset_features)
    if config.output_features:
        check_features_in_dataset(config.output_features, available, "output")
    else:
        config.output_features = {k: ft for k, ft in available.items() if ft.type is FeatureType.ACTION}
    if config.input_features:
        check_features_in_dataset(config.input_features, available, "input")
    else:
        config.input_features = {k: ft for k, ft in available.items() if ft.type is not FeatureType.ACTION}


def make_policy(
    config: PolicyConfig, dataset_features: Mapping[str, Mapping[str, Any]] | None = None
) -> Policy:
    """The policy for ``config`` on ``config.device``; with ``dataset_features``, fit its features first."""
    if dataset_features is not None:
        fit_features_to_dataset(config, dataset_features)
    policy = get_policy_type(config.type).policy_class(config)
    return policy.to(config.device)


def make_pre_post_processors(
    config: PolicyConfig, dataset_stats: Mapping[str, Mapping[str, Any]]
) -> tuple[PolicyProcessor, PolicyProcessor]:
    """(preprocessor, postprocessor) normalizing with the dataset's statistics (meta/stats.json content)."""
    return get_policy_type(config.type).make_processors(config, dataset_stats)


__all__ = [
    "POLICY_TYPES",
    "ACTConfig",
    "ACTPolicy",
    "DiffusionConfig",
    "DiffusionPolicy",
    "PI0Config",
    "PI0Policy",
    "Policy",
    "PolicyConfig",
    "PolicyType",
    "fit_features_to_dataset",
    "get_policy_type",
    "make_policy",
    "make_policy_config",
    "make_pre_post_processors",
]
