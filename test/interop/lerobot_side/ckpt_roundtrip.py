"""lerobot's side of test_checkpoints.py, run in the lerobot venv: ``ckpt_roundtrip.py WORKDIR``.

WORKDIR holds ``spec.json`` (the variants exchanged: policy type and tiny options; the normalization
statistics; the seed), ``inputs.safetensors`` (unnormalized observations and the diffusion's initial noise)
and the suite-saved checkpoints ``suite_<variant>/``. For each variant this script
- loads the suite checkpoint strictly with lerobot's own loaders (the policy class's ``from_pretrained``,
  ``make_pre_post_processors(pretrained_path=...)``) and runs preprocessor → policy → postprocessor;
- builds the same tiny policy with lerobot, trains it two steps, saves it with lerobot's ``save_pretrained``
  into ``lerobot_<variant>/`` and runs the same pipeline.
Every output goes to ``lerobot_outputs.safetensors``, lerobot's default configs to ``default_<type>/``, and
a JSON summary is printed on the last line. The numbers are compared on the pytest side.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.act.modeling_act import ACTPolicy
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
from lerobot.policies.factory import make_pre_post_processors
from lerobot.policies.pretrained import PreTrainedPolicy
from safetensors.torch import load_file, save_file

STATE, IMAGE, ACTION = "observation.state", "observation.images.front", "action"
CLASSES = {"act": (ACTConfig, ACTPolicy), "diffusion": (DiffusionConfig, DiffusionPolicy)}


def run_pipeline(
    policy: PreTrainedPolicy, preprocessor: Any, postprocessor: Any, inputs: dict, seed: int
) -> dict[str, torch.Tensor]:
    """Unnormalized observations → preprocessor → policy → postprocessor; the intermediate values too."""
    policy.eval()
    policy.reset()
    current = preprocessor({STATE: inputs["state"].clone(), IMAGE: inputs["image"].clone()})
    with torch.no_grad():
        if policy.config.type == "act":
            normalized = policy.predict_action_chunk({STATE: current[STATE], IMAGE: current[IMAGE]})
        else:
            previous = preprocessor(
                {STATE: inputs["prev_state"].clone(), IMAGE: inputs["prev_image"].clone()}
            )
            history = {key: torch.stack([previous[key], current[key]], dim=1) for key in (STATE, IMAGE)}
            torch.manual_seed(seed)  # DDPM draws noise at each denoising step: the same seed on both sides
            normalized = policy.predict_action_chunk(history, noise=inputs["noise"].clone())
    actions = postprocessor(normalized.clone())
    return {"normalized_state": current[STATE], "normalized_actions": normalized, "actions": actions}


def file_matches_policy(policy: PreTrainedPolicy, directory: Path) -> float:
    """Largest difference between model.safetensors and the loaded policy (names must match exactly)."""
    tensors = load_file(str(directory / "model.safetensors"))
    state = policy.state_dict()
    if set(tensors) != set(state):
        raise AssertionError(f"names differ: {sorted(set(tensors) ^ set(state))[:5]}")
    return max(
        float((tensors[k].float() - state[k].float()).abs().max()) if state[k].numel() else 0.0 for k in state
    )


def load_suite_checkpoint(directory: Path, inputs: dict, seed: int) -> tuple[dict, dict]:
    config_type = json.loads((directory / "config.json").read_text())["type"]
    policy_class = CLASSES[config_type][1]
    policy = policy_class.from_pretrained(directory, strict=True)  # missing/unexpected tensors raise
    preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=str(directory))
    outputs = run_pipeline(policy, preprocessor, postprocessor, inputs, seed)
    summary = {
        "policy_class": type(policy).__name__,
        "weights_max_abs_diff": file_matches_policy(policy, directory),
        "preprocessor_steps": [type(step).__name__ for step in preprocessor.steps],
        "postprocessor_steps": [type(step).__name__ for step in postprocessor.steps],
    }
    return outputs, summary


def features() -> tuple[dict, dict]:
    inputs = {
        STATE: PolicyFeature(type=FeatureType.STATE, shape=(6,)),
        IMAGE: PolicyFeature(type=FeatureType.VISUAL, shape=(3, 48, 48)),
    }
    return inputs, {ACTION: PolicyFeature(type=FeatureType.ACTION, shape=(6,))}


def training_batch(config: PreTrainedConfig, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A random normalized batch of 4 samples for a couple of optimizer steps."""
    batch_size = 4
    if config.type == "act":
        steps, obs = config.chunk_size, ()
    else:
        steps, obs = config.horizon, (config.n_obs_steps,)
    return {
        STATE: torch.randn(batch_size, *obs, 6, generator=generator),
        IMAGE: torch.rand(batch_size, *obs, 3, 48, 48, generator=generator),
        ACTION: torch.randn(batch_size, steps, 6, generator=generator).clamp(-1, 1),
        "action_is_pad": torch.zeros(batch_size, steps, dtype=torch.bool),
    }


def make_lerobot_checkpoint(
    policy_type: str, options: dict, stats: dict, directory: Path, inputs: dict, seed: int
) -> tuple[dict, dict]:
    """A tiny lerobot policy, two optimizer steps from its initialisation, saved by lerobot; its outputs."""
    config_class, policy_class = CLASSES[policy_type]
    input_features, output_features = features()
    options = {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}
    config = config_class(input_features=input_features, output_features=output_features, **options)
    torch.manual_seed(seed)
    policy = policy_class(config)
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    policy.train()
    losses = []
    for _ in range(2):  # away from the initialisation: batch-norm running statistics move too
        loss, _ = policy.forward(training_batch(config, generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    policy.save_pretrained(directory)
    preprocessor.save_pretrained(directory)
    postprocessor.save_pretrained(directory)
    outputs = run_pipeline(policy, preprocessor, postprocessor, inputs, seed)
    return outputs, {"losses": losses, "files": sorted(p.name for p in directory.iterdir())}


def main(workdir: Path) -> None:
    torch.set_num_threads(1)
    spec = json.loads((workdir / "spec.json").read_text())
    inputs = load_file(str(workdir / "inputs.safetensors"))
    stats = {
        feature: {name: torch.tensor(value, dtype=torch.float32) for name, value in values.items()}
        for feature, values in spec["stats"].items()
    }
    seed = spec["seed"]
    outputs: dict[str, torch.Tensor] = {}
    summary: dict[str, dict] = {}
    for variant, described in spec["variants"].items():
        name = f"suite_{variant}"
        result, summary[name] = load_suite_checkpoint(workdir / name, inputs, seed)
        outputs.update({f"{name}.{key}": value for key, value in result.items()})
        name = f"lerobot_{variant}"
        result, summary[name] = make_lerobot_checkpoint(
            described["type"], described["options"], stats, workdir / name, inputs, seed
        )
        outputs.update({f"{name}.{key}": value for key, value in result.items()})
    save_file(
        {k: v.detach().contiguous() for k, v in outputs.items()}, str(workdir / "lerobot_outputs.safetensors")
    )
    for policy_type, (config_class, _) in CLASSES.items():
        # lerobot's defaults as its config.json writes them, for the suite's defaults to be compared with.
        input_features, output_features = features()
        config = config_class(input_features=input_features, output_features=output_features, device="cpu")
        (workdir / f"default_{policy_type}").mkdir(exist_ok=True)
        config._save_pretrained(workdir / f"default_{policy_type}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
