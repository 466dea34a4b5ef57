"""Checkpoints: lerobot's layout, bit-identical save → load, exact resume, and clear errors."""

import json
import os
import re
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file

import lerobot_training
from lerobot_training.checkpoint import (
    CheckpointError,
    load_pretrained,
    load_training_state,
    load_weights,
    save_checkpoint,
    save_pretrained,
)
from lerobot_training.features import FeatureError
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors
from lerobot_training.policies.base import ConfigError
from lerobot_training.run_state import RunState


def build(helpers, policy_type, **overrides):
    """A tiny policy with its processors, on a synthetic dataset (state 6, one 16×16 camera, action 6)."""
    options = helpers.tiny_act_options if policy_type == "act" else helpers.tiny_diffusion_options
    features = helpers.dataset_features(cameras=helpers.TINY_CAMERAS)
    config = make_policy_config(policy_type, **options(**overrides))
    policy = make_policy(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, helpers.dataset_stats(features))
    return policy, preprocessor, postprocessor


def batch_for(helpers, policy_type, batch_size=4):
    if policy_type == "act":
        return helpers.act_batch(batch_size, 8)
    return helpers.diffusion_batch(batch_size, 2, 8)


def train_steps(helpers, policy, optimizer, scheduler, steps):
    policy.train()
    losses = []
    for _ in range(steps):
        loss, _ = policy(batch_for(helpers, policy.config.type))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses


def raw_observation():
    """Unnormalized single observation, as a robot would send it."""
    return {"observation.state": torch.randn(6), "observation.images.front": torch.rand(3, 16, 16)}


@pytest.mark.parametrize("policy_type", ["act", "diffusion"])
def test_save_then_load_gives_bit_identical_outputs(helpers, tmp_path, policy_type):
    policy, preprocessor, postprocessor = build(helpers, policy_type)
    optimizer = policy.config.make_optimizer(policy.get_optim_params())
    train_steps(helpers, policy, optimizer, None, 2)  # away from the initialisation, batch-norm stats moved
    save_pretrained(tmp_path, policy, preprocessor, postprocessor)
    loaded, loaded_pre, loaded_post = load_pretrained(tmp_path)

    assert type(loaded) is type(policy) and loaded.config.to_dict() == policy.config.to_dict()
    ours, theirs = policy.state_dict(), loaded.state_dict()
    assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)

    observation = raw_observation()
    outputs = []
    for model, pre, post in ((policy, preprocessor, postprocessor), (loaded, loaded_pre, loaded_post)):
        model.reset()
        torch.manual_seed(3)  # DDPM draws noise: same seed, same draws
        outputs.append(post(model.predict_action_chunk(pre(observation))))
    assert torch.equal(outputs[0], outputs[1])


def test_checkpoint_layout_and_exact_resume(helpers, tmp_path):
    # Diffusion with a random crop and a cosine scheduler: resuming must restore weights, optimizer moments,
    # scheduler position and every RNG (crop offsets and batches are drawn from torch's RNG).
    overrides = {"crop_shape": (12, 12)}
    policy, preprocessor, postprocessor = build(helpers, "diffusion", **overrides)
    optimizer = policy.config.make_optimizer(policy.get_optim_params())
    scheduler = policy.config.make_scheduler(optimizer, num_training_steps=6)
    train_steps(helpers, policy, optimizer, scheduler, 3)
    run = RunState(
        policy=policy,
        preprocessor=preprocessor,
        postprocessor=postprocessor,
        optimizer=optimizer,
        scheduler=scheduler,
        output_dir=tmp_path,
        total_steps=6,
        train_config={"steps": 6},
        step=3,
    )
    step_dir = save_checkpoint(run)
    expected_losses = train_steps(helpers, policy, optimizer, scheduler, 3)

    checkpoints = tmp_path / "checkpoints"
    assert step_dir == checkpoints / "000003"
    assert os.readlink(checkpoints / "last") == "000003"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["000003", "last"]
    assert sorted(p.name for p in (step_dir / "pretrained_model").iterdir()) == [
        "config.json",
        "model.safetensors",
        "policy_postprocessor.json",
        "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
        "policy_preprocessor.json",
        "policy_preprocessor_step_3_normalizer_processor.safetensors",
        "train_config.json",
    ]
    assert sorted(p.name for p in (step_dir / "training_state").iterdir()) == [
        "optimizer_param_groups.json",
        "optimizer_state.safetensors",
        "rng_state.safetensors",
        "scheduler_state.json",
        "training_step.json",
    ]

    torch.manual_seed(999)  # disturb the RNG: resuming must restore it
    resumed, resumed_pre, resumed_post = load_pretrained(checkpoints / "last")
    resumed_optimizer = resumed.config.make_optimizer(resumed.get_optim_params())
    resumed_scheduler = resumed.config.make_scheduler(resumed_optimizer, num_training_steps=6)
    resumed_run = RunState(
        policy=resumed,
        preprocessor=resumed_pre,
        postprocessor=resumed_post,
        optimizer=resumed_optimizer,
        scheduler=resumed_scheduler,
        output_dir=tmp_path,
        total_steps=6,
    )
    load_training_state(checkpoints / "last", resumed_run)
    assert resumed_run.step == 3
    assert train_steps(helpers, resumed, resumed_optimizer, resumed_scheduler, 3) == expected_losses
    final, resumed_final = policy.state_dict(), resumed.state_dict()
    assert all(torch.equal(final[k], resumed_final[k]) for k in final)


@pytest.fixture
def saved_act(helpers, tmp_path):
    policy, preprocessor, postprocessor = build(helpers, "act")
    return save_pretrained(tmp_path / "pretrained_model", policy, preprocessor, postprocessor)


def test_missing_tensor_is_an_error_naming_it(saved_act):
    tensors = load_file(str(saved_act / "model.safetensors"))
    del tensors["model.action_head.bias"]
    save_file(tensors, str(saved_act / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing from the file: model\.action_head\.bias"):
        load_pretrained(saved_act)


def test_wrong_shape_is_an_error_naming_it(saved_act):
    tensors = load_file(str(saved_act / "model.safetensors"))
    tensors["model.action_head.weight"] = torch.zeros(7, 64)
    tensors["model.extra"] = torch.zeros(1)
    save_file(tensors, str(saved_act / "model.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"model\.action_head\.weight: \[7, 64\] in the file, \[6, 64\]"
    ) as info:
        load_pretrained(saved_act)
    assert "model.extra" in str(info.value)


def test_unknown_config_key_is_an_error_naming_it(saved_act):
    config = json.loads((saved_act / "config.json").read_text())
    config["chunk_sise"] = 50
    (saved_act / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="chunk_sise"):
        load_pretrained(saved_act)
    config.pop("chunk_sise")
    config["type"] = "vqbet"
    (saved_act / "config.json").write_text(json.dumps(config))
    expected = r"unknown policy type 'vqbet'; available: \['act', 'diffusion', 'pi0'\]"
    with pytest.raises(ConfigError, match=expected):
        load_pretrained(saved_act)


def test_policy_features_the_dataset_lacks_are_an_error_naming_them(helpers):
    features = helpers.dataset_features(cameras={"front": (16, 16)})
    wants_wrist = make_policy_config(
        "act",
        **helpers.tiny_act_options(),
        input_features={
            "observation.state": {"type": "STATE", "shape": [6]},
            "observation.images.wrist": {"type": "VISUAL", "shape": [3, 16, 16]},
        },
    )
    with pytest.raises(FeatureError, match=r"'observation\.images\.wrist' is not in the dataset"):
        make_policy(wants_wrist, features)
    wrong_state = make_policy_config(
        "act",
        **helpers.tiny_act_options(),
        input_features={"observation.state": {"type": "STATE", "shape": [7]}},
    )
    with pytest.raises(
        FeatureError, match=r"'observation\.state' is STATE \[7\] for the policy but STATE \[6\]"
    ):
        make_policy(wrong_state, features)
    no_camera = helpers.dataset_features(cameras={})
    with pytest.raises(FeatureError, match="at least one camera"):
        make_policy(make_policy_config("act", **helpers.tiny_act_options()), no_camera)


def test_paths_that_are_not_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match=r"holds no config\.json"):
        load_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="neither a directory nor a Hub repo id"):
        load_pretrained(tmp_path / "missing" / "run" / "checkpoint")


def test_hub_repo_id_loads_from_the_hub_cache_and_fails_clearly_when_absent(saved_act, tmp_path, monkeypatch):
    # A Hub cache laid out as huggingface_hub writes it; the real snapshot_download resolves it offline.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--lerobot-ros--tiny-act"
    shutil.copytree(saved_act, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    policy, _, _ = load_pretrained("lerobot-ros/tiny-act", local_files_only=True)
    assert policy.config.type == "act"
    with pytest.raises(CheckpointError, match="getting it from the Hugging Face Hub failed"):
        load_pretrained("lerobot-ros/not-cached", local_files_only=True)


def test_incomplete_training_state_is_an_error(helpers, tmp_path):
    policy, preprocessor, postprocessor = build(helpers, "act")
    optimizer = policy.config.make_optimizer(policy.get_optim_params())
    run = RunState(
        policy=policy,
        preprocessor=preprocessor,
        postprocessor=postprocessor,
        optimizer=optimizer,
        output_dir=tmp_path,
        total_steps=10,
        step=1,
    )
    step_dir = save_checkpoint(run)
    (step_dir / "training_state" / "rng_state.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"rng_state\.safetensors"):
        load_training_state(step_dir, run)
    other_policy, _, _ = build(helpers, "act", dim_model=32, dim_feedforward=64)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_weights(other_policy, step_dir / "pretrained_model" / "model.safetensors")


def test_the_package_never_unpickles():
    # Loading goes through JSON and safetensors only: no torch.load, no pickle, anywhere in the package.
    package = Path(lerobot_training.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"torch\.load\b|\bimport pickle\b|\bpickle\.load", path.read_text())
    ]
    assert not offenders
