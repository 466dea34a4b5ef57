"""π₀ in the real lerobot 0.6.1, for test_pi0.py: one process does every lerobot-side step (imports and
model builds are the slow part).

Usage: pi0_interop.py SUITE_DIR INPUTS_FILE TOKENIZER_DIR OUT_DIR

- SUITE_DIR: a tiny π₀ ``pretrained_model`` saved by the suite; INPUTS_FILE: safetensors with a preprocessed
  batch, the noise and flow time to use, and a raw observation (``raw.*``) plus ``stats.json`` beside it.
- Loads SUITE_DIR strictly with ``PI0Policy.from_pretrained`` and its processors with lerobot's pipeline
  loader, computes actions and training losses, "fine-tunes" a few steps with lerobot's own training forward,
  saves the result (weights, config, processors made by ``make_pi0_pre_post_processors``) to OUT_DIR and
  computes its actions. Also builds lerobot's full-size π₀ on the meta device (bfloat16, and the gemma_300m
  backbone) and reports names, shapes and dtypes.

lerobot has no tiny variant: inside this script, while ``TINY`` is set, lerobot's variant names stand for the
suite's tiny sizes (``gemma_2b`` for ``dummy``, ``gemma_300m`` for ``dummy_expert``): ``get_gemma_config``
answers with them and the PaliGemma/Gemma classes get tiny vision and vocabulary numbers in place of the ones
lerobot writes into their configs. Everything else (module tree, dtype rule, loading, forward, sampling,
processors, saving) is lerobot's code as installed. Config files are read with the suite's names mapped to
lerobot's, and OUT_DIR's config.json gets the suite's names back.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import lerobot.policies.pi0.modeling_pi0 as modeling_pi0
import lerobot.processor.tokenizer_processor as tokenizer_processor
import torch
from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.factory import make_pre_post_processors
from lerobot.policies.pi0.configuration_pi0 import PI0Config
from lerobot.policies.pi0.modeling_pi0 import PI0Policy
from lerobot.policies.pi0.processor_pi0 import make_pi0_pre_post_processors
from safetensors.torch import load_file

PALIGEMMA_TOKENIZER = "google/paligemma-3b-pt-224"
SUITE_TO_LEROBOT = {"dummy": "gemma_2b", "dummy_expert": "gemma_300m"}
LEROBOT_TO_SUITE = {value: key for key, value in SUITE_TO_LEROBOT.items()}
# The suite's tiny sizes (lerobot_training.policies.pi0.config): Gemma width, depth, mlp, heads, kv heads,
# head_dim; SigLIP width, depth, mlp, heads; vocabulary.
TINY_GEMMA = {"gemma_2b": (64, 2, 128, 8, 1, 8), "gemma_300m": (32, 2, 64, 8, 1, 8)}
TINY_SIGLIP = {"hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64, "num_attention_heads": 2}
TINY_VOCAB = 1024
TINY = False

_real_gemma_config = modeling_pi0.get_gemma_config
_RealPaliGemma = modeling_pi0.PaliGemmaForConditionalGenerationWithPiGemma
_RealExpert = modeling_pi0.PiGemmaForCausalLM


def tiny_gemma_config(variant: str) -> modeling_pi0.GemmaConfig:
    return modeling_pi0.GemmaConfig(*TINY_GEMMA[variant]) if TINY else _real_gemma_config(variant)


class TinyPaliGemma(_RealPaliGemma):
    def __init__(self, config) -> None:
        if TINY:
            for key, value in TINY_SIGLIP.items():
                setattr(config.vision_config, key, value)
            config.vision_config.projection_dim = config.text_config.hidden_size
            config.text_config.vocab_size = TINY_VOCAB
            config._vocab_size = TINY_VOCAB
            config.image_token_index = TINY_VOCAB
        super().__init__(config)


class TinyExpert(_RealExpert):
    def __init__(self, config) -> None:
        if TINY:
            config.vocab_size = TINY_VOCAB
        super().__init__(config)


modeling_pi0.get_gemma_config = tiny_gemma_config
modeling_pi0.PaliGemmaForConditionalGenerationWithPiGemma = TinyPaliGemma
modeling_pi0.PiGemmaForCausalLM = TinyExpert


class LocalTokenizers:
    """lerobot's TokenizerProcessorStep loads PaliGemma's tokenizer by Hub id; offline, that id is served
    from the local directory the test built (any other name loads as given)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def from_pretrained(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(
            self.directory if name == PALIGEMMA_TOKENIZER else name, *args, **kwargs
        )


def read_config(directory: Path) -> PreTrainedConfig:
    """lerobot's config parser on ``directory/config.json``, with the suite's tiny names mapped."""
    data = json.loads((directory / "config.json").read_text())
    for key in ("paligemma_variant", "action_expert_variant"):
        data[key] = SUITE_TO_LEROBOT.get(data[key], data[key])
    with tempfile.TemporaryDirectory() as temporary:
        (Path(temporary) / "config.json").write_text(json.dumps(data))
        return PreTrainedConfig.from_pretrained(temporary)


def load_policy(directory: Path, **overrides: Any) -> tuple[PI0Policy, str]:
    """lerobot's ``from_pretrained`` (strict) and what it printed; it prints instead of raising on a key
    mismatch, so the caller checks the printout too."""
    config = read_config(directory)
    for key, value in overrides.items():
        setattr(config, key, value)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        policy = PI0Policy.from_pretrained(directory, config=config, strict=True)
    return policy.eval(), printed.getvalue()


def strict_problems(policy: PI0Policy, path: Path) -> dict[str, list[str]]:
    """Missing/unexpected names of ``path`` against the policy, before lerobot's key fixes."""
    names, expected = set(load_file(str(path))), set(policy.state_dict())
    return {"missing": sorted(expected - names), "unexpected": sorted(names - expected)}


def batch_of(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key.removeprefix("batch."): value for key, value in inputs.items() if key.startswith("batch.")}


def lists(tensors: dict) -> dict:
    return {k: v.tolist() for k, v in tensors.items() if isinstance(v, torch.Tensor)}


def meta_state(**options: Any) -> dict[str, list]:
    """name → [shape, dtype] of lerobot's full-size π₀ built on the meta device."""
    features = {
        "observation.state": PolicyFeature(FeatureType.STATE, (6,)),
        "observation.images.front": PolicyFeature(FeatureType.VISUAL, (3, 224, 224)),
    }
    config = PI0Config(
        device="cpu",
        input_features=features,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
        **options,
    )
    config.device = "meta"  # lerobot validates the device name first
    with torch.device("meta"):
        policy = PI0Policy(config)
    return {
        name: [list(t.shape), str(t.dtype).removeprefix("torch.")] for name, t in policy.state_dict().items()
    }


def main(suite_dir: Path, inputs_path: Path, tokenizer_dir: str, out_dir: Path) -> dict:
    global TINY
    torch.manual_seed(0)
    tokenizer_processor.AutoTokenizer = LocalTokenizers(tokenizer_dir)
    result: dict = {}

    # (c, 4) Full size on the meta device: lerobot's real variants.
    result["meta_bf16"] = meta_state(dtype="bfloat16")
    result["meta_gemma_300m"] = meta_state(paligemma_variant="gemma_300m", action_expert_variant="gemma_300m")
    result["meta_bf16_parameters"] = sum(
        torch.Size(shape).numel() for shape, _ in result["meta_bf16"].values()
    )

    TINY = True
    inputs = load_file(str(inputs_path))
    batch, noise, time = batch_of(inputs), inputs["noise"], inputs["time"]

    # (a) The suite's checkpoint, strictly, then actions and losses with the suite's noise and time.
    policy, printed = load_policy(suite_dir)
    result["a_load_printout"] = printed
    result["a_problems"] = strict_problems(policy, suite_dir / "model.safetensors")
    result["a_actions"] = policy.predict_action_chunk(batch, noise=noise).tolist()
    model = policy.model
    images, masks = policy._preprocess_images(batch)
    tokens, token_masks = batch["observation.language.tokens"], batch["observation.language.attention_mask"]
    state, actions = policy.prepare_state(batch), policy.prepare_action(batch)
    with torch.no_grad():
        losses = model.forward(images, masks, tokens, token_masks, state, actions, noise, time)
    result["a_losses"] = losses.tolist()
    bf16, _ = load_policy(suite_dir, dtype="bfloat16")
    result["a_bf16_actions"] = bf16.predict_action_chunk(batch, noise=noise).tolist()
    result["tiny_bf16_float32"] = sorted(n for n, t in bf16.state_dict().items() if t.dtype == torch.float32)
    del bf16

    # (d) The suite's processor files in lerobot's pipeline loader.
    raw = {key.removeprefix("raw."): value for key, value in inputs.items() if key.startswith("raw.")}
    observation = {**{k: v for k, v in raw.items() if k != "action"}, "task": "open the drawer"}
    suite_pre, suite_post = make_pre_post_processors(read_config(suite_dir), pretrained_path=str(suite_dir))
    result["d_suite_pre"] = lists(suite_pre(dict(observation)))
    result["d_suite_post"] = suite_post(raw["action"][None]).tolist()

    # (b) Fine-tune with lerobot's own training forward: it changes embed_tokens, never the unused lm_head.
    lm_head, embed = (
        "model.paligemma_with_expert.paligemma.lm_head.weight",
        "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight",
    )
    before = {name: policy.state_dict()[name].clone() for name in (lm_head, embed)}
    policy.train()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-2)
    for _ in range(3):
        loss, _ = policy(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    policy.eval()
    after = policy.state_dict()
    result["b_lm_head_changed"] = not torch.equal(after[lm_head], before[lm_head])
    result["b_embed_change"] = float((after[embed] - before[embed]).abs().max())
    policy.save_pretrained(out_dir)
    stats = {
        feature: {stat: torch.tensor(values) for stat, values in entry.items()}
        for feature, entry in json.loads((inputs_path.parent / "stats.json").read_text()).items()
    }
    pre, post = make_pi0_pre_post_processors(policy.config, dataset_stats=stats)
    pre.save_pretrained(out_dir)
    post.save_pretrained(out_dir)
    result["b_actions"] = policy.predict_action_chunk(batch, noise=noise).tolist()
    result["d_lerobot_pre"] = lists(pre(dict(observation)))
    result["d_lerobot_post"] = post(raw["action"][None]).tolist()
    config_path = out_dir / "config.json"
    data = json.loads(config_path.read_text())
    for key in ("paligemma_variant", "action_expert_variant"):
        data[key] = LEROBOT_TO_SUITE.get(data[key], data[key])
    config_path.write_text(json.dumps(data, indent=4))

    # (b) lerobot reloads its own file: both tensors come back as saved.
    reloaded, printed = load_policy(out_dir)
    result["b_reload_printout"] = printed
    result["b_reload_actions"] = reloaded.predict_action_chunk(batch, noise=noise).tolist()
    return result


if __name__ == "__main__":
    suite, inputs_file, tokenizer, out = sys.argv[1:5]
    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    print(json.dumps(main(Path(suite), Path(inputs_file), tokenizer, Path(out))))
