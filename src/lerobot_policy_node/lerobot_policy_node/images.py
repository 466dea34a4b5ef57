"""The rule for a camera whose images differ in size from those the policy was trained on, in one place.

Same aspect ratio (within 1 %): the image is resized to the trained size (bilinear, antialiased) — a camera
set to 640×480 serves a policy trained on 320×240. Another aspect ratio: refused, because stretching would
distort what the policy learned and cropping would cut off part of what it saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ASPECT_TOLERANCE = 0.01  # relative; absorbs the rounding of sizes like 1280×720 → 426×240


class ImageSizeError(ValueError):
    """A camera's images cannot be brought to the trained size without distorting them."""


def must_resize(camera: str, size: tuple[int, int], trained: tuple[int, int]) -> bool:
    """Whether ``camera``'s images of ``size`` (height, width) are resized to ``trained`` (height, width).

    Raises ImageSizeError, naming the camera and both sizes, when their aspect ratios differ.
    """
    if tuple(size) == tuple(trained):
        return False
    (height, width), (trained_height, trained_width) = size, trained
    aspect, trained_aspect = width / height, trained_width / trained_height
    if abs(aspect - trained_aspect) > ASPECT_TOLERANCE * trained_aspect:
        raise ImageSizeError(
            f"camera '{camera}' gives {width}×{height} images, the policy was trained on "
            f"{trained_width}×{trained_height}: another aspect ratio, which resizing would distort; set the "
            f"camera to {trained_width}×{trained_height} or to a size of the same aspect ratio"
        )
    return True


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A channel-first float image (C×H×W) resized to ``size`` (height, width)."""
    import torch  # here: the node's shell imports this module for the rule, and starts without torch

    return torch.nn.functional.interpolate(
        image[None], size=tuple(size), mode="bilinear", antialias=True, align_corners=False
    )[0]
