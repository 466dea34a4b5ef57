"""The one image preprocessing step of training and serving (lerobot_dataset.images)."""

import numpy as np
import pytest
import torch

from lerobot_dataset.images import ImageFormatError, ImageSizeError, check_image, image_tensor


def test_colour_is_scaled_to_unit_range_channels_first():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 14
    tensor = image_tensor(rgb)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 2, 3)
    assert torch.equal(tensor, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)


def test_depth_keeps_its_millimetres():
    depth = np.array([[[0], [4095]], [[1234], [600]]], np.uint16)
    tensor = image_tensor(depth)
    assert tensor.shape == (1, 2, 2)
    assert tensor.flatten().tolist() == [0.0, 4095.0, 1234.0, 600.0]


def test_a_window_of_frames_is_resized_frame_by_frame_to_the_trained_size():
    rng = np.random.default_rng(0)
    window = rng.integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    tensor = image_tensor(window, (24, 32), "front")
    assert tensor.shape == (2, 3, 24, 32)
    assert torch.allclose(tensor[1], image_tensor(window[1], (24, 32)), atol=1e-6)
    assert image_tensor(window, (48, 64)).shape == (2, 3, 48, 64)  # the trained size: untouched


def test_another_aspect_ratio_and_other_kinds_of_image_are_refused_saying_what_to_do():
    with pytest.raises(ImageSizeError, match=r"camera 'front' gives 64×64 images.*32×24"):
        image_tensor(np.zeros((64, 64, 3), np.uint8), (24, 32), "front")
    with pytest.raises(ImageFormatError, match="float32 images with 1 channel"):
        image_tensor(np.zeros((4, 4, 1), np.float32), camera="depth")  # 32FC1 metres: not what is recorded
    with pytest.raises(ImageFormatError, match=r"trained on depth maps, H×W×1 uint16"):
        check_image("wrist", np.zeros((24, 32, 3), np.uint8), (1, 24, 32))
    with pytest.raises(ImageFormatError, match=r"trained on colour images, H×W×3 uint8"):
        check_image("front", np.zeros((24, 32, 1), np.uint16), (3, 24, 32))
    assert check_image("front", np.zeros((48, 64, 3), np.uint8), (3, 24, 32))
    assert not check_image("wrist", np.zeros((24, 32, 1), np.uint16), (1, 24, 32))
