"""Camera images → the tensors a policy receives: one step, used by the training loader and at serving time.

Input: images as a dataset stores and decodes them, which is also what
``lerobot_common.conversions.image_array`` makes of a live message: height × width × channels (any leading
axes, e.g. a window of frames), colour as RGB uint8 (a mono camera as three equal channels), a depth map as
one channel of uint16 in its recorded units.
Output: float32, channels first (… × C × H × W).

- Colour (uint8): divided by 255, so in [0, 1]: lerobot's convention, the scale of a dataset's image stats.
- Depth (uint16, one channel): the recorded values unchanged, as float32 (the suite records millimetres; a
  lerobot 0.6 depth video is dequantized to millimetres when read). Never divided by 255: a depth camera's
  stats are in these units (stats.py), so the policy's normalizer maps them to its range; lerobot 0.6's
  loader too hands depth over as float32 millimetres (its dequantize_depth's default unit).
- Size: an image of the trained size is left as it is. Another size of the same aspect ratio (within 1 %) is
  resized to the trained size, bilinear and antialiased, after the conversion to float (colour and depth
  alike, no rounding after resizing): a camera set to 640×480 serves a policy trained on 320×240. Another
  aspect ratio is refused (ImageSizeError), because stretching would distort what the policy learned and
  cropping would cut off part of what it saw.

torch is imported where a tensor is made: the policy node's shell imports the size rule and starts without
torch, and the dataset writer and reader work without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

ASPECT_TOLERANCE = 0.01  # relative; absorbs the rounding of sizes like 1280×720 → 426×240
COLOUR_DTYPE = np.dtype(np.uint8)
DEPTH_DTYPE = np.dtype(np.uint16)


class ImageSizeError(ValueError):
    """A camera's images cannot be brought to the trained size without distorting them."""


class ImageFormatError(ValueError):
    """A camera's images are not of the kind (colour or depth, channels) the policy was trained on."""


def must_resize(camera: str, size: Sequence[int], trained: Sequence[int]) -> bool:
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


def expected_dtype(channels: int) -> np.dtype:
    """The dtype of a camera's images with ``channels`` channels: one channel is a depth map (as
    ``lerobot_dataset.features.is_depth`` decides), three are RGB colour."""
    return DEPTH_DTYPE if channels == 1 else COLOUR_DTYPE


def check_image(camera: str, image: np.ndarray, trained: Sequence[int]) -> bool:
    """Whether ``image`` (H×W×C) of ``camera`` must be resized for a policy trained on ``trained`` (C, H, W).

    Raises ImageFormatError when its channels or dtype are not those trained on (a depth camera mapped to a
    colour input, 8-bit depth), ImageSizeError when its aspect ratio differs.
    """
    channels, height, width = (int(n) for n in trained)
    wanted = expected_dtype(channels)
    if image.ndim != 3 or image.shape[2] != channels or image.dtype != wanted:
        kind = "depth maps" if channels == 1 else "colour images"
        raise ImageFormatError(
            f"camera '{camera}' gives {image.dtype} images of shape {tuple(image.shape)}; the policy was "
            f"trained on {kind}, H×W×{channels} {wanted} ({width}×{height}): map the camera that was "
            "recorded for this input"
        )
    return must_resize(camera, image.shape[:2], (height, width))


def image_tensor(
    images: np.ndarray, size: Sequence[int] | None = None, camera: str = "image"
) -> torch.Tensor:
    """Images (… × H × W × C; colour uint8, depth uint16) → the float32 tensor (… × C × H × W) a policy
    receives, resized to ``size`` (height, width) by the rule above when it is given and differs."""
    import torch

    depth = images.dtype == DEPTH_DTYPE and images.shape[-1] == 1
    if not depth and images.dtype != COLOUR_DTYPE:
        raise ImageFormatError(
            f"camera '{camera}': {images.dtype} images with {images.shape[-1]} channel(s) cannot be given to "
            "a policy; colour is RGB uint8, depth one channel of uint16 (e.g. millimetres)"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, -3))).to(torch.float32)
    if not depth:
        tensor = tensor / 255
    if size is None or not must_resize(camera, tensor.shape[-2:], size):
        return tensor
    flat = tensor.reshape(-1, *tensor.shape[-3:])
    resized = torch.nn.functional.interpolate(
        flat, size=tuple(int(n) for n in size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.reshape(*tensor.shape[:-2], *resized.shape[-2:])
