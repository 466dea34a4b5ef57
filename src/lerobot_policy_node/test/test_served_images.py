"""The policy server takes camera images as the policy node hands them over: colour uint8, depth uint16."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from lerobot_policy_node.observation import blank_observation
from lerobot_policy_node.remote.client import encode_image
from lerobot_policy_node.remote.server import RequestError, parse_observation

# What parse_observation reads of a served checkpoint: its input features, frames per request, default task.
SERVED = SimpleNamespace(
    input_features={
        "observation.state": {"type": "STATE", "shape": [2]},
        "observation.images.front": {"type": "VISUAL", "shape": [3, 24, 32]},
        "observation.images.depth": {"type": "VISUAL", "shape": [1, 24, 32]},
    },
    n_obs_steps=1,
    task="",
)


def request(depth) -> dict:
    return {
        "observation.state": np.zeros(2, np.float32),
        "observation.images.front": np.zeros((24, 32, 3), np.uint8),
        "observation.images.depth": depth,
    }


def test_depth_in_millimetres_is_taken_raw_or_as_16_bit_png():
    depth = (np.arange(24 * 32, dtype=np.uint16).reshape(24, 32, 1) * 5) % 4096
    frames, _ = parse_observation(SERVED, request(depth))
    np.testing.assert_array_equal(frames[0]["observation.images.depth"], depth)
    png = cv2.imencode(".png", depth[..., 0])[1].tobytes()
    frames, _ = parse_observation(SERVED, request(png))
    np.testing.assert_array_equal(frames[0]["observation.images.depth"], depth)


def test_8_bit_depth_is_refused_naming_what_the_policy_was_trained_on():
    with pytest.raises(RequestError, match=r"'observation.images.depth'.*depth maps, H×W×1 uint16"):
        parse_observation(SERVED, request(np.zeros((24, 32, 1), np.uint8)))


def test_the_clients_warm_up_and_png_depth_are_taken():
    # The remote client warms the server up with blank_observation, and sends depth as 16-bit PNG.
    frames, _ = parse_observation(SERVED, blank_observation(SERVED.input_features))
    assert frames[0]["observation.images.depth"].dtype == np.uint16
    depth = np.full((24, 32, 1), 1234, np.uint16)
    frames, _ = parse_observation(SERVED, request(encode_image(depth, "png")))
    np.testing.assert_array_equal(frames[0]["observation.images.depth"], depth)
