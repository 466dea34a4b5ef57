"""ACT: learning, gradients, action queue and temporal ensembling as lerobot documents them, config rules."""

import math

import pytest
import torch

from lerobot_training.features import FeatureError
from lerobot_training.policies import make_policy, make_policy_config
from lerobot_training.policies.act import ACTTemporalEnsembler
from lerobot_training.policies.base import ConfigError
from lerobot_training.policies.vision import BackboneWeightsError


def tiny_act(helpers, **overrides):
    config = make_policy_config("act", **helpers.tiny_act_options(**overrides))
    return make_policy(config, helpers.dataset_features(cameras=helpers.TINY_CAMERAS))


def count_calls(module: torch.nn.Module) -> list:
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_training_reduces_loss_and_predicts_the_task(helpers):
    policy = tiny_act(helpers)
    # The task depends on the state only; freezing the ResNet saves CPU time (gradients through it are
    # checked in test_every_parameter_gets_a_gradient).
    policy.model.backbone.requires_grad_(False)
    optimizer = policy.config.make_optimizer(policy.get_optim_params())
    policy.train()
    losses = []
    for _ in range(120):
        loss, parts = policy(helpers.act_batch(16, 8))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(parts["l1_loss"])
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.4 * first, (first, last)

    batch = helpers.act_batch(64, 8)
    error = (policy.predict_action_chunk(batch) - batch["action"]).abs().mean()
    assert error < 0.5 * batch["action"].abs().mean()  # far better than predicting zeros


def test_every_parameter_gets_a_gradient(helpers):
    policy = tiny_act(helpers)
    policy.train()
    loss, parts = policy(helpers.act_batch(4, 8))
    assert set(parts) == {"l1_loss", "kld_loss"}
    loss.backward()
    without = {n for n, p in policy.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0}
    # By construction (lerobot's too), the single decoder layer's self-attention sees all-zero queries at
    # initialisation: its values are zero, so these three get no gradient on the first step. All else does.
    assert without == {
        "model.decoder.layers.0.self_attn.in_proj_weight",
        "model.decoder.layers.0.self_attn.out_proj.weight",
        "model.decoder.layers.0.norm1.weight",
    }
    assert {
        group.get("lr") for group in policy.config.make_optimizer(policy.get_optim_params()).param_groups
    } == {
        1e-3,
        1e-4,
    }


def test_padded_actions_do_not_count_in_the_loss(helpers):
    policy = tiny_act(helpers, use_vae=False)
    policy.train()
    batch = helpers.act_batch(2, 8)
    batch["action_is_pad"][:, 4:] = True
    loss, _ = policy(batch)
    batch["action"][:, 4:] += 100.0  # garbage where padded
    assert torch.equal(policy(batch)[0], loss)


def test_temporal_ensembler_by_hand():
    coeff = 0.5
    ensembler = ACTTemporalEnsembler(coeff, chunk_size=3)
    chunks = [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0], [1000.0, 2000.0, 3000.0]]
    outputs = [ensembler.update(torch.tensor(c).view(1, 3, 1)).item() for c in chunks]
    w0, w1, w2 = 1.0, math.exp(-coeff), math.exp(-2 * coeff)  # oldest prediction weighs most
    expected = [
        1.0,
        (2 * w0 + 10 * w1) / (w0 + w1),
        (3 * w0 + 20 * w1 + 100 * w2) / (w0 + w1 + w2),
        (30 * w0 + 200 * w1 + 1000 * w2) / (w0 + w1 + w2),
    ]
    assert outputs == pytest.approx(expected, rel=1e-6)


def test_select_action_with_temporal_ensembling_replans_every_step(helpers):
    coeff, chunk_size = 0.01, 4
    policy = tiny_act(helpers, chunk_size=chunk_size, n_action_steps=1, temporal_ensemble_coeff=coeff)
    observations = [helpers.act_batch(2, chunk_size) for _ in range(6)]
    for obs in observations:
        del obs["action"], obs["action_is_pad"]
    chunks = [policy.predict_action_chunk(obs) for obs in observations]
    calls = count_calls(policy.model)
    policy.reset()
    actions = [policy.select_action(obs) for obs in observations]
    assert len(calls) == len(observations)
    weights = [math.exp(-coeff * i) for i in range(chunk_size)]
    for step, action in enumerate(actions):
        # Chunks predicted at steps max(0, step-chunk_size+1)..step, oldest first, each at its offset.
        sources = list(range(max(0, step - chunk_size + 1), step + 1))
        expected = sum(w * chunks[s][:, step - s] for w, s in zip(weights, sources, strict=False)) / sum(
            weights[: len(sources)]
        )
        torch.testing.assert_close(action, expected)


def test_action_queue_runs_n_action_steps_open_loop(helpers):
    policy = tiny_act(helpers, chunk_size=5, n_action_steps=3)
    observations = [
        {k: v for k, v in helpers.act_batch(2, 5).items() if k.startswith("observation")} for _ in range(7)
    ]
    chunks = [policy.predict_action_chunk(obs) for obs in observations]
    calls = count_calls(policy.model)
    policy.reset()
    actions = [policy.select_action(obs) for obs in observations]
    assert len(calls) == 3  # inference at steps 0, 3 and 6 only
    expected = [chunks[0][:, i] for i in range(3)] + [chunks[3][:, i] for i in range(3)] + [chunks[6][:, 0]]
    for action, wanted in zip(actions, expected, strict=True):
        assert torch.equal(action, wanted)
    policy.reset()
    policy.select_action(observations[1])
    assert len(calls) == 4  # reset empties the queue


def test_config_rules(helpers):
    with pytest.raises(ConfigError, match="n_action_steps=1"):
        make_policy_config("act", temporal_ensemble_coeff=0.01, n_action_steps=10)
    with pytest.raises(ConfigError, match="chunk_size"):
        make_policy_config("act", chunk_size=10, n_action_steps=20)
    with pytest.raises(ConfigError, match="n_obs_steps"):
        make_policy_config("act", n_obs_steps=2)
    policy = tiny_act(helpers)
    policy.train()
    with pytest.raises(FeatureError, match=r"\(B, 8, 6\)"):
        policy(helpers.act_batch(2, 5))
    batch = helpers.act_batch(2, 8)
    del batch["observation.images.front"]
    with pytest.raises(FeatureError, match=r"observation\.images\.front"):
        policy(batch)


def test_without_vae_there_are_no_vae_tensors(helpers):
    policy = tiny_act(helpers, use_vae=False)
    assert not [name for name in policy.state_dict() if "vae" in name]
    policy.train()
    _, parts = policy(helpers.act_batch(2, 8))
    assert set(parts) == {"l1_loss"}


def test_backbone_defaults_to_lerobots_imagenet_weights():
    # lerobot 0.6.1's ACTConfig default (checked against the real lerobot in test/interop/), so that a
    # config.json written by either side with the default means the same backbone.
    assert make_policy_config("act").pretrained_backbone_weights == "ResNet18_Weights.IMAGENET1K_V1"


def test_pretrained_backbone_weights_fail_clearly_offline(helpers, tmp_path, monkeypatch):
    # An empty torch hub cache and an unreachable proxy: the real torchvision download path of the default
    # weights must fail, and say both ways out (no pretrained weights, or the file copied into the cache).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    options = helpers.tiny_act_options()
    del options["pretrained_backbone_weights"]  # lerobot's default
    with pytest.raises(BackboneWeightsError) as info:
        make_policy(
            make_policy_config("act", **options), helpers.dataset_features(cameras=helpers.TINY_CAMERAS)
        )
    message = str(info.value)
    assert "'ResNet18_Weights.IMAGENET1K_V1'" in message
    assert "--policy.pretrained_backbone_weights=null" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert f"{tmp_path / 'hub' / 'checkpoints'}/" in message and "TORCH_HOME" in message
    with pytest.raises(ConfigError, match="not a torchvision weights name"):
        tiny_act(helpers, pretrained_backbone_weights="ResNet18_Weights.NOPE")


def test_two_cameras_and_environment_state(helpers):
    features = helpers.dataset_features(cameras={"front": (16, 16), "wrist": (32, 32)})
    features["observation.environment_state"] = {"dtype": "float32", "shape": [3], "names": None}
    policy = make_policy(make_policy_config("act", **helpers.tiny_act_options()), features)
    assert policy.model.encoder_env_state_input_proj.in_features == 3
    assert policy.model.encoder_1d_feature_pos_embed.num_embeddings == 3  # latent, state, env state
    batch = helpers.act_batch(2, 8)
    batch["observation.images.wrist"] = torch.rand(2, 3, 32, 32)
    batch["observation.environment_state"] = torch.rand(2, 3)
    policy.train()
    policy(batch)[0].backward()
    chunk = policy.predict_action_chunk({k: v for k, v in batch.items() if k.startswith("observation")})
    assert chunk.shape == (2, 8, 6)
