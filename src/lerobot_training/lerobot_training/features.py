"""Policy features: what a policy reads and writes, derived from a dataset's ``features`` (info.json).

A policy feature is lerobot's ``{"type": "STATE", "shape": [6]}``: a role plus a per-frame shape. Cameras are
stored height × width × channels in datasets and become channels × height × width here, as torch wants them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from lerobot_dataset.images import ImageSizeError, must_resize

OBS_STATE = "observation.state"
OBS_ENV_STATE = "observation.environment_state"
OBS_IMAGE_PREFIX = "observation.image"  # covers lerobot's "observation.image" and "observation.images.<cam>"
ACTION = "action"
ACTION_IS_PAD = "action_is_pad"
# The task text tokenized by a language-conditioned policy's preprocessor (π₀).
OBS_LANGUAGE_TOKENS = "observation.language.tokens"
OBS_LANGUAGE_ATTENTION_MASK = "observation.language.attention_mask"


class FeatureError(ValueError):
    """A policy's features do not fit the dataset, the batch or each other."""


class FeatureType(str, Enum):
    STATE = "STATE"
    VISUAL = "VISUAL"
    ENV = "ENV"
    ACTION = "ACTION"


@dataclass(frozen=True)
class PolicyFeature:
    type: FeatureType
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type.value, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, name: str, value: Mapping[str, Any]) -> PolicyFeature:
        try:
            return cls(type=FeatureType(value["type"]), shape=tuple(int(d) for d in value["shape"]))
        except (KeyError, TypeError, ValueError) as err:
            raise FeatureError(
                f"feature {name!r} must look like {{'type': 'STATE'|'VISUAL'|'ENV'|'ACTION', "
                f"'shape': [...]}}, got {value!r}"
            ) from err


def dataset_to_policy_features(dataset_features: Mapping[str, Mapping[str, Any]]) -> dict[str, PolicyFeature]:
    """Policy features of a dataset's ``info.json`` features, in the dataset's order.

    Cameras (dtype ``image``/``video``) become VISUAL (channels first), ``observation.environment_state`` ENV,
    other ``observation.*`` STATE, ``action`` ACTION; bookkeeping columns (index, timestamp...) are skipped.
    """
    features: dict[str, PolicyFeature] = {}
    for key, spec in dataset_features.items():
        shape = tuple(int(d) for d in spec["shape"])
        if spec["dtype"] in ("image", "video"):
            if len(shape) != 3:
                raise FeatureError(f"camera feature {key!r} must have a 3-d shape, got {list(shape)}")
            names = spec.get("names") or []
            if len(names) == 3 and names[2] in ("channel", "channels"):
                shape = (shape[2], shape[0], shape[1])
            features[key] = PolicyFeature(FeatureType.VISUAL, shape)
        elif key == OBS_ENV_STATE:
            features[key] = PolicyFeature(FeatureType.ENV, shape)
        elif key.startswith("observation"):
            features[key] = PolicyFeature(FeatureType.STATE, shape)
        elif key == ACTION:
            features[key] = PolicyFeature(FeatureType.ACTION, shape)
    return features


def check_features_in_dataset(
    wanted: Mapping[str, PolicyFeature], available: Mapping[str, PolicyFeature], role: str
) -> None:
    """Raise FeatureError naming every policy feature the dataset lacks or has with another type/shape.

    A camera may be trained at another size than recorded, of the same aspect ratio (the loaders resize it
    to the policy's ``image_sizes``)."""
    problems = []
    for key, feature in wanted.items():
        if key not in available:
            problems.append(f"{key!r} is not in the dataset")
        elif available[key] == feature:
            continue
        elif _only_size_differs(available[key], feature):
            try:  # the rule the policy node applies to a camera of another size
                must_resize(key, available[key].shape[1:], feature.shape[1:])
            except ImageSizeError as err:
                problems.append(str(err))
        else:
            have = available[key]
            problems.append(
                f"{key!r} is {feature.type.value} {list(feature.shape)} for the policy but "
                f"{have.type.value} {list(have.shape)} in the dataset"
            )
    if problems:
        raise FeatureError(
            f"policy {role} features do not match the dataset: {'; '.join(problems)}. The dataset has "
            f"{sorted(available)}; change the policy's {role}_features or use a dataset that records them."
        )


def _only_size_differs(have: PolicyFeature, want: PolicyFeature) -> bool:
    return have.type is want.type is FeatureType.VISUAL and have.shape[0] == want.shape[0]


def require_keys(batch: Mapping[str, Any], keys: list[str], why: str) -> None:
    """Raise FeatureError naming the keys a batch lacks (clearer than a bare KeyError deep in a model)."""
    missing = [key for key in keys if key not in batch]
    if missing:
        raise FeatureError(f"batch lacks {missing} ({why}); it has {sorted(batch)}")
