"""Camera augmentation as lerobot applies it: a random subset of colour jitters and a sharpness jitter,
each with a factor drawn uniformly from its range. Draws come from torch's RNG, seeded by the caller per
sample."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms.v2 import functional as F

from lerobot_training.train_config import ImageTransformsConfig

ADJUSTMENTS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "brightness": F.adjust_brightness,
    "contrast": F.adjust_contrast,
    "saturation": F.adjust_saturation,
    "hue": F.adjust_hue,
    "sharpness": F.adjust_sharpness,
}


class ImageAugmentation:
    """Callable on float images (..., 3, H, W) in [0, 1]; a window (T, 3, H, W) gets one draw for all T."""

    def __init__(self, config: ImageTransformsConfig) -> None:
        self.config = config
        self.names = list(ADJUSTMENTS)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        order = torch.randperm(len(self.names))[: self.config.max_num_transforms]
        if not self.config.random_order:
            order = order.sort().values
        for index in order.tolist():
            name = self.names[index]
            low, high = getattr(self.config, name)
            factor = low + (high - low) * torch.rand(()).item()
            images = ADJUSTMENTS[name](images, factor)
        return images.clamp(0.0, 1.0)
