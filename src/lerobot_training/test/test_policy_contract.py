"""The policy contract: capabilities declared once on the base classes, overridden by the policies that have
them, written to config.json only where lerobot writes them; generic modules know no particular policy."""

import ast
import dataclasses
from pathlib import Path

import pytest

import lerobot_training.checkpoint as checkpoint_module
from lerobot_training.checkpoint import load_policy_config, make_pretrained_policy, save_pretrained
from lerobot_training.data import delta_timestamps_for
from lerobot_training.policies import (
    POLICY_TYPES,
    PolicyConfig,
    make_policy,
    make_policy_config,
    make_pre_post_processors,
)
from lerobot_training.policies.act import ACTConfig
from lerobot_training.policies.base import ConfigError
from lerobot_training.train import grad_clip_norm_for
from lerobot_training.train_config import TrainConfig

CAPABILITIES = (
    "chunk_length",
    "temporal_ensemble_coeff",
    "rtc_enabled",
    "max_action_dim",
    "pretrained_backbone_weights",
    "drop_n_last_frames",
    "optimizer_grad_clip_norm",
    "reward_delta_indices",
)


@pytest.mark.parametrize("policy_type", sorted(POLICY_TYPES))
def test_capabilities_are_declared_and_written_only_where_lerobot_has_the_key(policy_type):
    config = make_policy_config(policy_type, device="cpu")
    fields = {f.name for f in dataclasses.fields(config)}
    written = config.to_dict()
    base_fields = {f.name for f in dataclasses.fields(PolicyConfig)}
    for name in CAPABILITIES:
        assert hasattr(PolicyConfig, name), f"{name} is not declared on PolicyConfig"
        assert name not in base_fields  # a base field would be written to every policy's config.json
        assert (name in written) == (name in fields)
    assert config.chunk_length == config.n_action_steps
    assert set(written) - {"type"} == fields


def test_each_policy_overrides_what_it_can_do():
    action = {"action": {"type": "ACTION", "shape": [6]}}
    act = make_policy_config(
        "act", device="cpu", n_action_steps=1, temporal_ensemble_coeff=0.05, output_features=action
    )
    diffusion = make_policy_config("diffusion", device="cpu")
    pi0 = make_policy_config("pi0", device="cpu", rtc_config={"enabled": True}, output_features=action)
    assert [c.temporal_ensemble_coeff for c in (act, diffusion, pi0)] == [0.05, None, None]
    assert [c.drop_n_last_frames for c in (act, diffusion, pi0)] == [0, 7, 0]
    assert pi0.rtc_enabled and not act.rtc_enabled and not diffusion.rtc_enabled
    assert {name: t.policy_class.supports_rtc for name, t in POLICY_TYPES.items()} == {
        "act": False,
        "diffusion": False,
        "pi0": True,
    }
    assert (act.max_action_dim, pi0.max_action_dim) == (6, 32)
    train = TrainConfig(grad_clip_norm=7.0)
    assert (grad_clip_norm_for(train, act), grad_clip_norm_for(train, pi0)) == (7.0, 1.0)


def test_a_capability_declared_on_a_config_is_used_without_further_changes():
    @dataclasses.dataclass
    class RewardACTConfig(ACTConfig):
        @property
        def reward_delta_indices(self) -> list[int]:
            return [0, 1]

    features = ["observation.state", "action", "next.reward"]
    plain = delta_timestamps_for(ACTConfig(chunk_size=2, n_action_steps=2), features, 10)
    assert plain == {"action": [0.0, 0.1]}
    deltas = delta_timestamps_for(RewardACTConfig(chunk_size=2, n_action_steps=2), features, 10)
    assert deltas == {"action": [0.0, 0.1], "next.reward": [0.0, 0.1]}


def test_checkpoints_know_no_particular_policy():
    """π₀'s LoRA and tokenizer live in policies/pi0/, reached through the Policy hooks."""
    tree = ast.parse(Path(checkpoint_module.__file__).read_text())
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    particular = {f"lerobot_training.policies.{name}" for name in POLICY_TYPES}
    assert not {m for m in imported for p in particular if m == p or m.startswith(p + ".")}


def test_lora_on_a_policy_without_adapters_is_a_clear_error(helpers, tmp_path):
    features = helpers.dataset_features()
    config = make_policy_config("act", device="cpu", **helpers.tiny_act_options())
    policy = make_policy(config, features)
    directory = save_pretrained(
        tmp_path / "pm", policy, *make_pre_post_processors(config, helpers.dataset_stats(features))
    )
    finetune = load_policy_config(directory)
    finetune.use_peft = True
    with pytest.raises(ConfigError, match=r"use_peft \(LoRA adapters\) is not implemented for act"):
        make_pretrained_policy(finetune, directory)
