"""ACT and Diffusion Policy checkpoints move both ways between the suite and the real lerobot 0.6.1.

One lerobot subprocess (lerobot_side/ckpt_roundtrip.py) loads the suite's checkpoints strictly and saves its
own; both sides run the full pipeline (preprocessor → policy → postprocessor) on the same unnormalized
observations with non-trivial normalization statistics, and the numbers are compared here. ACT is
deterministic at inference (eval mode, latent at zero); Diffusion gets the same initial noise tensor on both
sides and the same torch seed for the noise its DDPM scheduler draws at each denoising step.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from lerobot_training.checkpoint import load_pretrained, save_pretrained
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors
from lerobot_training.policies.base import Policy
from lerobot_training.processor import PolicyProcessor

STATE, IMAGE, ACTION = "observation.state", "observation.images.front", "action"
POLICY_TYPES = ("act", "diffusion")
BATCH = 2
SEED = 7
TOLERANCE = 1e-5
FEATURES: dict[str, Any] = {
    "input_features": {
        STATE: {"type": "STATE", "shape": [6]},
        IMAGE: {"type": "VISUAL", "shape": [3, 48, 48]},
    },
    "output_features": {ACTION: {"type": "ACTION", "shape": [6]}},
}
# Tiny but complete models (the ResNet-18 trunk stays; a 48×48 camera keeps it cheap). No pretrained backbone:
# these machines are offline, and the weights come from the checkpoint anyway.
OPTIONS: dict[str, dict[str, Any]] = {
    "act": {
        "device": "cpu",
        "pretrained_backbone_weights": None,
        "dim_model": 32,
        "n_heads": 2,
        "dim_feedforward": 64,
        "n_encoder_layers": 1,
        "n_vae_encoder_layers": 1,
        "latent_dim": 8,
        "chunk_size": 10,
        "n_action_steps": 10,
    },
    "diffusion": {
        "device": "cpu",
        "pretrained_backbone_weights": None,
        "horizon": 16,
        "n_action_steps": 8,
        "down_dims": [32, 64],
        "kernel_size": 3,
        "n_groups": 8,
        "diffusion_step_embed_dim": 32,
        "spatial_softmax_num_keypoints": 8,
        "crop_shape": [40, 40],  # center crop at inference, random while training
        "num_inference_steps": 10,
    },
}
# Checkpoints exchanged: name → (policy type, options). The third is the older horizon-16 style (group norm,
# one encoder shared by the cameras) with deterministic DDIM sampling: other tensor names, another scheduler.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "act": ("act", OPTIONS["act"]),
    "diffusion": ("diffusion", OPTIONS["diffusion"]),
    "diffusion_group_norm": (
        "diffusion",
        {
            **OPTIONS["diffusion"],
            "use_group_norm": True,
            "use_separate_rgb_encoder_per_camera": False,
            "noise_scheduler_type": "DDIM",
            "num_inference_steps": 5,
        },
    ),
}


def normalization_stats() -> dict[str, dict[str, list]]:
    """Statistics far from the identity (mean 0, std 1, range [-1, 1]), per channel for the camera."""
    generator = torch.Generator().manual_seed(1)

    def vector(low: float, high: float, shape: tuple[int, ...]) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape, generator=generator)

    stats = {}
    for name, shape in ((STATE, (6,)), (ACTION, (6,)), (IMAGE, (3, 1, 1))):
        mean = vector(-3.0, 3.0, shape)
        stats[name] = {
            "mean": mean.tolist(),
            "std": vector(0.2, 4.0, shape).tolist(),
            "min": (mean - vector(1.0, 5.0, shape)).tolist(),
            "max": (mean + vector(1.0, 5.0, shape)).tolist(),
        }
    return stats


def observations() -> dict[str, torch.Tensor]:
    """Unnormalized observations at t-1 and t (a batch of 2) and the diffusion's initial noise."""
    generator = torch.Generator().manual_seed(2)
    stats = normalization_stats()
    mean, std = torch.tensor(stats[STATE]["mean"]), torch.tensor(stats[STATE]["std"])
    state = mean + std * torch.randn(BATCH, 6, generator=generator)
    horizon = OPTIONS["diffusion"]["horizon"]
    return {
        "state": state,
        "image": torch.rand(BATCH, 3, 48, 48, generator=generator),
        "prev_state": state - 0.1 * std * torch.randn(BATCH, 6, generator=generator),
        "prev_image": torch.rand(BATCH, 3, 48, 48, generator=generator),
        "noise": torch.randn(BATCH, horizon, 6, generator=generator),
    }


def run_pipeline(
    policy: Policy,
    preprocessor: PolicyProcessor,
    postprocessor: PolicyProcessor,
    inputs: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """The suite's counterpart of lerobot_side/ckpt_roundtrip.py's run_pipeline."""
    policy.eval()
    policy.reset()
    current = preprocessor({STATE: inputs["state"].clone(), IMAGE: inputs["image"].clone()})
    if policy.config.type == "act":
        normalized = policy.predict_action_chunk({STATE: current[STATE], IMAGE: current[IMAGE]})
    else:
        previous = preprocessor({STATE: inputs["prev_state"].clone(), IMAGE: inputs["prev_image"].clone()})
        history = {key: torch.stack([previous[key], current[key]], dim=1) for key in (STATE, IMAGE)}
        torch.manual_seed(SEED)  # DDPM draws noise at each denoising step: the same seed on both sides
        normalized = policy.predict_action_chunk(history, noise=inputs["noise"].clone())
    actions = postprocessor(normalized.clone())
    return {"normalized_state": current[STATE], "normalized_actions": normalized, "actions": actions}


def training_batch(policy_type: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    options = OPTIONS[policy_type]  # the shapes of a batch are the same for every variant of a type
    steps, obs = (options["chunk_size"], ()) if policy_type == "act" else (options["horizon"], (2,))
    return {
        STATE: torch.randn(4, *obs, 6, generator=generator),
        IMAGE: torch.rand(4, *obs, 3, 48, 48, generator=generator),
        ACTION: torch.randn(4, steps, 6, generator=generator).clamp(-1, 1),
        "action_is_pad": torch.zeros(4, steps, dtype=torch.bool),
    }


def save_suite_checkpoint(variant: str, directory: Path) -> None:
    """A tiny suite policy, two optimizer steps away from its initialisation, saved by the suite."""
    policy_type, options = VARIANTS[variant]
    torch.manual_seed(SEED)
    config = make_policy_config(policy_type, **FEATURES, **options)
    policy = make_policy(config)
    preprocessor, postprocessor = make_pre_post_processors(config, normalization_stats())
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(SEED)
    policy.train()
    for _ in range(2):
        loss, _ = policy(training_batch(policy_type, generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save_pretrained(directory, policy, preprocessor, postprocessor)


@pytest.fixture(scope="module")
def roundtrip(lerobot, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Suite checkpoints written, the lerobot script run once, and both sides' outputs."""
    torch.set_num_threads(1)
    workdir = tmp_path_factory.mktemp("checkpoints")
    variants = {
        name: {"type": policy_type, "options": options} for name, (policy_type, options) in VARIANTS.items()
    }
    spec = {"seed": SEED, "stats": normalization_stats(), "variants": variants}
    (workdir / "spec.json").write_text(json.dumps(spec))
    inputs = observations()
    save_file(inputs, str(workdir / "inputs.safetensors"))
    for variant in VARIANTS:
        save_suite_checkpoint(variant, workdir / f"suite_{variant}")
    summary = lerobot("ckpt_roundtrip", workdir)
    return SimpleNamespace(
        workdir=workdir,
        inputs=inputs,
        summary=summary,
        theirs=load_file(str(workdir / "lerobot_outputs.safetensors")),
    )


def compare(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
    """Max abs difference per output; shapes must agree."""
    differences = {}
    for key, value in ours.items():
        other = theirs[f"{prefix}.{key}"]
        assert value.shape == other.shape, (
            f"{key}: {tuple(value.shape)} here, {tuple(other.shape)} in lerobot"
        )
        differences[key] = float((value - other).abs().max())
    return differences


def expected_chunk(variant: str) -> tuple[int, int, int]:
    policy_type, options = VARIANTS[variant]
    return (BATCH, options["chunk_size"] if policy_type == "act" else options["n_action_steps"], 6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_suite_checkpoint_gives_the_same_actions_in_lerobot(roundtrip, variant):
    name = f"suite_{variant}"
    summary = roundtrip.summary[name]
    # Loaded by lerobot with strict=True, every tensor exactly the file's, through lerobot's own processors.
    assert summary["weights_max_abs_diff"] == 0.0
    assert summary["preprocessor_steps"][-1] == "NormalizerProcessorStep"
    assert summary["postprocessor_steps"][0] == "UnnormalizerProcessorStep"
    policy, preprocessor, postprocessor = load_pretrained(roundtrip.workdir / name)
    ours = run_pipeline(policy, preprocessor, postprocessor, roundtrip.inputs)
    assert ours["actions"].shape == expected_chunk(variant)
    # Not vacuous: the statistics move the numbers a lot (they are far from the identity).
    assert float((ours["actions"] - ours["normalized_actions"]).abs().max()) > 0.5
    differences = compare(ours, roundtrip.theirs, name)
    assert max(differences.values()) < TOLERANCE, differences
    if VARIANTS[variant][0] == "diffusion":  # the injected noise is what makes the two samples equal
        other_noise = {**roundtrip.inputs, "noise": torch.randn_like(roundtrip.inputs["noise"])}
        resampled = run_pipeline(policy, preprocessor, postprocessor, other_noise)["actions"]
        assert float((resampled - ours["actions"]).abs().max()) > 1e-2


@pytest.mark.parametrize("variant", VARIANTS)
def test_lerobot_checkpoint_loads_strictly_in_the_suite_with_the_same_actions(roundtrip, variant):
    name = f"lerobot_{variant}"
    directory = roundtrip.workdir / name
    assert {
        "config.json",
        "model.safetensors",
        "policy_preprocessor.json",
        "policy_postprocessor.json",
    } <= set(roundtrip.summary[name]["files"])
    policy, preprocessor, postprocessor = load_pretrained(directory)  # strict: a stray tensor is an error
    saved = json.loads((directory / "config.json").read_text())
    assert policy.config.to_dict() == saved  # every key understood, none lost
    file_tensors, state = load_file(str(directory / "model.safetensors")), policy.state_dict()
    assert set(file_tensors) == set(state)
    assert all(torch.equal(file_tensors[key], state[key]) for key in state)
    ours = run_pipeline(policy, preprocessor, postprocessor, roundtrip.inputs)
    assert ours["actions"].shape == expected_chunk(variant)
    assert float((ours["actions"] - ours["normalized_actions"]).abs().max()) > 0.5
    differences = compare(ours, roundtrip.theirs, name)
    assert max(differences.values()) < TOLERANCE, differences


@pytest.mark.parametrize("policy_type", POLICY_TYPES)
def test_default_config_equals_lerobots_default(roundtrip, policy_type):
    # lerobot's config.json for its default settings (written by the script): a config written by either side
    # with default values must mean the same on the other, pretrained_backbone_weights included.
    theirs = json.loads((roundtrip.workdir / f"default_{policy_type}" / "config.json").read_text())
    ours = make_policy_config(policy_type, **FEATURES, device="cpu").to_dict()
    assert list(ours) == list(theirs), "keys or their order differ"
    assert ours == theirs
