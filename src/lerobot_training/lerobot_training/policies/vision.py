"""torchvision ResNet backbones, optionally pretrained (lerobot's ``pretrained_backbone_weights``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
import torchvision

from lerobot_training.policies.base import ConfigError

# lerobot's default for ACT and Diffusion Policy: ResNet-18 trained on ImageNet (torchvision downloads it).
DEFAULT_BACKBONE_WEIGHTS = "ResNet18_Weights.IMAGENET1K_V1"


class BackboneWeightsError(RuntimeError):
    """Pretrained backbone weights were asked for but cannot be obtained (typically: no network)."""


def build_resnet(name: str, weights: str | None, **kwargs: Any) -> torchvision.models.ResNet:
    """``torchvision.models.<name>(weights=...)``; ``weights`` is a torchvision weights name such as
    ``"ResNet18_Weights.IMAGENET1K_V1"`` (downloaded once into the torch hub cache) or None (random init)."""
    if not name.startswith("resnet") or not callable(getattr(torchvision.models, name, None)):
        raise ConfigError(f"vision_backbone must be a torchvision ResNet such as 'resnet18', got {name!r}")
    constructor = getattr(torchvision.models, name)
    if weights is None:
        return constructor(weights=None, **kwargs)
    try:
        weights_enum = torchvision.models.get_weight(weights)
    except (KeyError, ValueError) as err:
        raise ConfigError(
            f"pretrained_backbone_weights {weights!r} is not a torchvision weights name; use e.g. "
            f"'ResNet18_Weights.IMAGENET1K_V1', or None for a randomly initialised backbone"
        ) from err
    try:
        return constructor(weights=weights_enum, **kwargs)
    except (URLError, OSError) as err:
        # The usual cause is a machine without network access: say both ways out, in the CLI's words too.
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        default = " (lerobot's default)" if weights == DEFAULT_BACKBONE_WEIGHTS else ""
        raise BackboneWeightsError(
            f"could not download the pretrained backbone weights {weights!r}{default} from "
            f"{weights_enum.url}: {err}. Either start from a randomly initialised backbone: set "
            "pretrained_backbone_weights to null (--policy.pretrained_backbone_weights=null, or "
            "pretrained_backbone_weights: null in a --config file); or download that file on a machine with "
            f"network access and copy it into {cache}/ (the torch hub cache; TORCH_HOME moves it)."
        ) from err
