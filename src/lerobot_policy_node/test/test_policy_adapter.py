"""A checkpoint as the runner sees it: observation arrays in, a chunk out; multi-frame policies see ticks."""

import numpy as np
import pytest
import torch

from lerobot_dataset.features import DEFAULT_FEATURES
from lerobot_dataset.images import ImageSizeError
from lerobot_policy_node.policy import LoadedPolicy
from lerobot_training.checkpoint import save_pretrained
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors

FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [3], "names": None},
    "observation.images.front": {
        "dtype": "video",
        "shape": [16, 16, 3],
        "names": ["height", "width", "channels"],
    },
    "action": {"dtype": "float32", "shape": [3], "names": None},
    **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
}
STATS = {
    "observation.state": {"mean": [0.0] * 3, "std": [1.0] * 3, "min": [-1.0] * 3, "max": [1.0] * 3},
    "action": {"mean": [0.0] * 3, "std": [1.0] * 3, "min": [-1.0] * 3, "max": [1.0] * 3},
    "observation.images.front": {
        "mean": [[[0.5]]] * 3,
        "std": [[[0.25]]] * 3,
        "min": [[[0.0]]] * 3,
        "max": [[[1.0]]] * 3,
    },
}


@pytest.fixture(scope="module")
def diffusion(tmp_path_factory):
    config = make_policy_config(
        "diffusion", pretrained_backbone_weights=None, device="cpu", horizon=8, n_action_steps=4,
        down_dims=(32, 64), n_groups=8, kernel_size=3, diffusion_step_embed_dim=32,
        spatial_softmax_num_keypoints=8, num_inference_steps=2, noise_scheduler_type="DDIM",
    )  # fmt: skip
    policy = make_policy(config, FEATURES)
    directory = save_pretrained(
        tmp_path_factory.mktemp("diffusion") / "pm", policy, *make_pre_post_processors(config, STATS)
    )
    return LoadedPolicy(directory, threads=1)


def observation(value: float) -> dict[str, np.ndarray]:
    return {
        "observation.state": np.full(3, value, np.float32),
        "observation.images.front": np.full((16, 16, 3), int(value * 10), np.uint8),
    }


def test_multi_frame_policy_sees_the_last_ticks(diffusion):
    assert diffusion.history.maxlen == 2  # lerobot's Diffusion default n_obs_steps
    first = observation(1.0)
    diffusion.observe(first)
    batch = diffusion.to_batch(first)  # one tick seen: the frame is repeated, as lerobot fills its queue
    assert batch["observation.state"].shape == (1, 2, 3)
    assert torch.equal(batch["observation.state"][0, 0], batch["observation.state"][0, 1])
    for value in (2.0, 3.0):
        diffusion.observe(observation(value))
    current = diffusion.history[-1]
    batch = diffusion.to_batch(current)
    assert batch["observation.state"][0, :, 0].tolist() == [2.0, 3.0]  # the two newest ticks, oldest first
    assert batch["observation.images.front"].shape == (1, 2, 3, 16, 16)
    chunk = diffusion.predict(current, np.zeros((0, 3)), 0)
    assert chunk.shape == (4, 3) and np.isfinite(chunk).all()  # n_action_steps actions in dataset units
    diffusion.reset()
    assert len(diffusion.history) == 0


def test_chunks_keep_n_action_steps_unless_ensembling(tmp_path):
    config = make_policy_config(
        "act", pretrained_backbone_weights=None, device="cpu", chunk_size=6, n_action_steps=4, dim_model=32,
        n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1, latent_dim=4,
    )  # fmt: skip
    policy = make_policy(config, FEATURES)
    directory = save_pretrained(tmp_path / "pm", policy, *make_pre_post_processors(config, STATS))
    act = LoadedPolicy(directory, threads=1)
    # ACT predicts chunk_size actions; like lerobot's select_action, the robot executes n_action_steps of them
    assert act.predict(observation(0.5), np.zeros((0, 3)), 0).shape == (4, 3)
    act.whole_chunks = True  # temporal ensembling averages whole chunks
    assert act.predict(observation(0.5), np.zeros((0, 3)), 0).shape == (6, 3)


def test_the_checkpoints_chunk_length_and_temporal_ensembling_reach_the_adapter(tmp_path):
    options = dict(
        pretrained_backbone_weights=None, device="cpu", chunk_size=6, dim_model=32, n_heads=2,
        dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1, latent_dim=4,
    )  # fmt: skip
    for name, extra, expected in [
        ("plain", {"n_action_steps": 4}, (4, None)),
        ("ensembling", {"n_action_steps": 1, "temporal_ensemble_coeff": 0.05}, (1, 0.05)),
    ]:
        config = make_policy_config("act", **options, **extra)
        policy = make_policy(config, FEATURES)
        directory = save_pretrained(tmp_path / name, policy, *make_pre_post_processors(config, STATS))
        act = LoadedPolicy(directory, threads=1)
        assert (act.chunk_length, act.ensemble_coeff) == expected


def test_images_of_the_trained_aspect_ratio_are_resized_others_refused(diffusion):
    """The rule of lerobot_dataset.images, applied where images become tensors (trained on 16×16)."""
    diffusion.reset()
    larger = {**observation(1.0), "observation.images.front": np.full((32, 32, 3), 10, np.uint8)}
    batch = diffusion.to_batch(larger)
    assert batch["observation.images.front"].shape == (1, 2, 3, 16, 16)
    assert torch.allclose(batch["observation.images.front"], torch.tensor(10 / 255))  # flat stays flat
    wide = {**observation(1.0), "observation.images.front": np.zeros((16, 32, 3), np.uint8)}
    with pytest.raises(ImageSizeError, match="gives 32×16 images, the policy was trained on 16×16"):
        diffusion.to_batch(wide)
