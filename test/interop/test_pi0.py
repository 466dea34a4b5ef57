"""π₀ between the suite and the real lerobot 0.6.1, compared with numbers: checkpoints move both ways under
strict loading and give the same actions with the same noise, lerobot's fine-tuned files (different lm_head
and embed_tokens) run here as there, the bfloat16 mixed precision keeps the same float32 tensors, lerobot's
variant names build the same tensors, and the processor files load on both sides.

lerobot runs once, at the suite's tiny size (see lerobot_side/pi0_interop.py for how its variant names stand
for the tiny sizes there); full-size models are built on the meta device only.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from lerobot_training.checkpoint import load_pretrained, save_pretrained
from lerobot_training.policies import fit_features_to_dataset, make_policy, make_policy_config
from lerobot_training.policies.pi0 import PI0Policy, make_pi0_processors
from lerobot_training.policies.pi0.processor import TOKENIZER_ENV, NewLineStep, TokenizerStep
from lerobot_training.processor import POSTPROCESSOR_NAME, PREPROCESSOR_NAME, PolicyProcessor

CAMERA = "observation.images.front"
LM_HEAD = "model.paligemma_with_expert.paligemma.lm_head.weight"
EMBED_TOKENS = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
TASKS = ["pick up the red cube", "push the block to the left", "open the drawer"]
CHUNK, LANG_LENGTH, BATCH = 4, 8, 2
TINY = {
    "paligemma_variant": "dummy",
    "action_expert_variant": "dummy_expert",
    "image_resolution": [28, 28],
    "chunk_size": CHUNK,
    "n_action_steps": CHUNK,
    "tokenizer_max_length": LANG_LENGTH,
    "num_inference_steps": 5,
    "device": "cpu",
}
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [6], "names": None},
    CAMERA: {"dtype": "video", "shape": [32, 40, 3], "names": ["height", "width", "channels"]},
    "action": {"dtype": "float32", "shape": [6], "names": None},
}


def stats() -> dict[str, dict[str, list]]:
    generator = torch.Generator().manual_seed(1)

    def entry(shape: tuple[int, ...]) -> dict[str, list]:
        mean = torch.randn(shape, generator=generator) * 0.2
        std = torch.rand(shape, generator=generator) + 0.5
        return {
            "mean": mean.tolist(),
            "std": std.tolist(),
            "min": (mean - 2).tolist(),
            "max": (mean + 2).tolist(),
        }

    return {"observation.state": entry((6,)), "action": entry((6,)), CAMERA: entry((3, 1, 1))}


def max_difference(a: object, b: object) -> float:
    return float(
        (torch.as_tensor(a, dtype=torch.float32) - torch.as_tensor(b, dtype=torch.float32)).abs().max()
    )


def meta_state(options: dict) -> dict[str, list]:
    config = make_policy_config("pi0", **options)
    features = {**FEATURES, CAMERA: {**FEATURES[CAMERA], "shape": [224, 224, 3]}}
    fit_features_to_dataset(config, features)
    with torch.device("meta"):
        policy = PI0Policy(config)
    return {
        name: [list(t.shape), str(t.dtype).removeprefix("torch.")] for name, t in policy.state_dict().items()
    }


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory, lerobot) -> SimpleNamespace:
    """A suite-saved tiny π₀ and inputs; lerobot's results on them and its fine-tuned checkpoint."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("pi0_interop")
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        TASKS, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<bos>"])
    )
    tokenizer_dir = root / "tokenizer"
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>")
    fast.save_pretrained(tokenizer_dir)

    policy = make_policy(make_policy_config("pi0", **TINY), FEATURES).eval()
    pre, post = make_pi0_processors(policy.config, stats(), str(tokenizer_dir))
    suite_dir = save_pretrained(root / "suite", policy, pre, post)

    generator = torch.Generator().manual_seed(2)
    batch = TokenizerStep(str(tokenizer_dir), LANG_LENGTH)(NewLineStep()({"task": TASKS[:BATCH]}))
    batch = {key: value for key, value in batch.items() if isinstance(value, torch.Tensor)}
    batch["observation.state"] = torch.rand(BATCH, 6, generator=generator) * 2 - 1
    batch[CAMERA] = torch.rand(BATCH, 3, 32, 40, generator=generator)  # not square: resized with padding
    batch["action"] = torch.rand(BATCH, CHUNK, 6, generator=generator) * 2 - 1
    noise = torch.randn(BATCH, CHUNK, 32, generator=generator)
    time = torch.tensor([0.3, 0.8])
    raw = {
        "observation.state": torch.rand(6, generator=generator),
        CAMERA: torch.rand(3, 32, 40, generator=generator),
        "action": torch.rand(CHUNK, 6, generator=generator),
    }
    tensors = {f"batch.{k}": v for k, v in batch.items()}
    tensors.update({f"raw.{k}": v for k, v in raw.items()}, noise=noise, time=time)
    inputs = root / "inputs" / "inputs.safetensors"
    inputs.parent.mkdir()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(inputs))
    (inputs.parent / "stats.json").write_text(json.dumps(stats()))

    lerobot_dir = root / "lerobot"
    result = lerobot("pi0_interop", suite_dir, inputs, tokenizer_dir, lerobot_dir)
    return SimpleNamespace(
        policy=policy,
        suite_dir=suite_dir,
        lerobot_dir=lerobot_dir,
        tokenizer_dir=tokenizer_dir,
        batch=batch,
        noise=noise,
        time=time,
        raw=raw,
        result=result,
    )


def test_suite_checkpoint_loads_strictly_in_lerobot_and_gives_the_same_actions(exchange):
    result = exchange.result
    assert result["a_problems"] == {"missing": [], "unexpected": []}
    assert "All keys loaded successfully!" in result["a_load_printout"], result["a_load_printout"]
    ours = exchange.policy.predict_action_chunk(exchange.batch, noise=exchange.noise)
    difference = max_difference(ours, result["a_actions"])
    print(f"(a) suite → lerobot: max action difference {difference:.2e} (float32, same noise)")
    assert difference < 1e-5
    # Training: the same flow-matching losses for the same noise and time.
    policy = exchange.policy
    padded = torch.nn.functional.pad(exchange.batch["action"], (0, 26))
    with torch.no_grad():
        losses = policy.model.compute_loss(
            *policy._inputs(exchange.batch), padded, exchange.noise, exchange.time
        )
    loss_difference = max_difference(losses, result["a_losses"])
    print(f"(a) per-element training loss difference {loss_difference:.2e}")
    assert loss_difference < 1e-5


def test_lerobot_fine_tuned_checkpoint_loads_strictly_here_with_both_embeddings(exchange, caplog, tmp_path):
    result = exchange.result
    # lerobot's training changed the token embedding and left the unused lm_head alone.
    assert not result["b_lm_head_changed"] and result["b_embed_change"] > 1e-3
    assert "All keys loaded successfully!" in result["b_reload_printout"]
    assert max_difference(result["b_reload_actions"], result["b_actions"]) == 0
    tensors = load_file(str(exchange.lerobot_dir / "model.safetensors"))
    assert not torch.equal(tensors[LM_HEAD], tensors[EMBED_TOKENS])
    suite_file = load_file(str(exchange.suite_dir / "model.safetensors"))
    assert torch.equal(tensors[LM_HEAD], suite_file[LM_HEAD])  # the suite wrote both, lerobot kept lm_head
    with caplog.at_level(logging.WARNING, logger="lerobot_training.checkpoint"):
        policy, _, _ = load_pretrained(exchange.lerobot_dir)
    assert any("holds different" in record.message for record in caplog.records)
    state = policy.state_dict()
    assert set(state) == set(tensors)  # strict: every name, nothing extra
    assert all(torch.equal(state[name], tensor) for name, tensor in tensors.items())
    ours = policy.predict_action_chunk(exchange.batch, noise=exchange.noise)
    difference = max_difference(ours, result["b_actions"])
    stale = max_difference(result["b_actions"], result["a_actions"])
    # What taking lm_head for the token embedding (the tied layout) would have run instead.
    tied = PI0Policy(policy.config).eval()
    tied.load_state_dict({**tensors, EMBED_TOKENS: tensors[LM_HEAD]})
    wrong = max_difference(tied.predict_action_chunk(exchange.batch, noise=exchange.noise), ours)
    print(
        f"(b) lerobot → suite: max action difference {difference:.2e}; with lm_head as the embedding "
        f"(tied) {wrong:.3f}; lerobot's fine-tuning moved actions by {stale:.3f}"
    )
    assert difference < 1e-5 and wrong > 1e-2 and stale > 1e-3
    # Saved again here: both tensors, as lerobot writes them.
    pre, post = make_pi0_processors(policy.config, stats(), str(exchange.tokenizer_dir))
    again = load_file(str(save_pretrained(tmp_path, policy, pre, post) / "model.safetensors"))
    assert set(again) == set(tensors) and torch.equal(again[EMBED_TOKENS], tensors[EMBED_TOKENS])


def test_bfloat16_keeps_the_same_float32_tensors_as_lerobot(exchange):
    result = exchange.result
    ours = meta_state({"dtype": "bfloat16"})
    theirs = result["meta_bf16"]
    float32 = {name for name, (_, dtype) in ours.items() if dtype == "float32"}
    assert float32 == {name for name, (_, dtype) in theirs.items() if dtype == "float32"}
    assert ours == theirs and (len(float32), len(ours)) == (523, 778)
    print(f"(c) bfloat16: {len(float32)} of {len(ours)} tensors stay float32, as in lerobot")
    # Parameter count as lerobot reports it (untied lm_head included).
    assert result["meta_bf16_parameters"] == sum(torch.Size(shape).numel() for shape, _ in ours.values())
    assert 4.02e9 < result["meta_bf16_parameters"] < 4.04e9
    # The tiny model too, and its actions in bfloat16 (both libraries cast at the same points).
    tiny = make_policy(make_policy_config("pi0", **TINY, dtype="bfloat16"), FEATURES).eval()
    tiny.load_state_dict(exchange.policy.state_dict())
    assert (
        sorted(n for n, t in tiny.state_dict().items() if t.dtype == torch.float32)
        == result["tiny_bf16_float32"]
    )
    actions = tiny.predict_action_chunk(exchange.batch, noise=exchange.noise)
    difference = max_difference(actions, result["a_bf16_actions"])
    print(f"(c) bfloat16 actions: max difference to lerobot {difference:.2e}")
    assert difference < 1e-2


def test_lerobots_gemma_300m_backbone_builds_the_same_tensors(exchange):
    ours = meta_state({"paligemma_variant": "gemma_300m", "action_expert_variant": "gemma_300m"})
    assert ours == exchange.result["meta_gemma_300m"]


def test_processor_files_load_on_both_sides(exchange, monkeypatch):
    result = exchange.result
    observation = {**{k: v for k, v in exchange.raw.items() if k != "action"}, "task": "open the drawer"}
    keys = ("observation.language.tokens", "observation.language.attention_mask", "observation.state", CAMERA)

    def compare(ours: dict, theirs: dict) -> float:
        assert {k for k, v in ours.items() if isinstance(v, torch.Tensor)} == set(theirs)
        return max(max_difference(ours[key], theirs[key]) for key in keys)

    # The suite's files in lerobot's loader, lerobot's here (they name PaliGemma's tokenizer by Hub id:
    # $LEROBOT_PI0_TOKENIZER is its local copy): the same tokens, mask, normalized state and image.
    suite_pre = PolicyProcessor.load(exchange.suite_dir, PREPROCESSOR_NAME)(dict(observation))
    suite_post = PolicyProcessor.load(exchange.suite_dir, POSTPROCESSOR_NAME)(exchange.raw["action"][None])
    monkeypatch.setenv(TOKENIZER_ENV, str(exchange.tokenizer_dir))
    lerobot_pre = PolicyProcessor.load(exchange.lerobot_dir, PREPROCESSOR_NAME)(dict(observation))
    lerobot_post = PolicyProcessor.load(exchange.lerobot_dir, POSTPROCESSOR_NAME)(
        exchange.raw["action"][None]
    )
    differences = [
        compare(suite_pre, result["d_suite_pre"]),
        max_difference(suite_post, result["d_suite_post"]),
        compare(lerobot_pre, result["d_lerobot_pre"]),
        max_difference(lerobot_post, result["d_lerobot_post"]),
    ]
    print(f"(d) processors, max differences (suite files, lerobot files; pre, post): {differences}")
    assert max(differences) < 1e-6
    assert lerobot_pre["observation.language.attention_mask"].sum() == 3  # "open the drawer"
