"""π₀: lerobot's names and shapes at full size (meta device), the paper's attention masks, flow-matching
training, the KV-cached sampler against the uncached reference, checkpoints with lerobot's key names, the
tokenizing preprocessor, fine-tuning options (freezing, LoRA, gradient checkpointing), the Real-Time Chunking
hook and a training run through lerobot-ros-train. Tiny random models and a tokenizer built here: no network.
"""

import itertools
import json
import logging

import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from lerobot_training.checkpoint import load_pretrained, save_pretrained
from lerobot_training.policies import fit_features_to_dataset, make_policy, make_policy_config
from lerobot_training.policies.pi0 import PI0Config, PI0Policy, make_pi0_processors
from lerobot_training.policies.pi0.lora import apply_lora
from lerobot_training.policies.pi0.model import (
    OBS_LANGUAGE_ATTENTION_MASK,
    OBS_LANGUAGE_TOKENS,
    make_attention_mask,
    resize_with_pad,
)
from lerobot_training.policies.pi0.processor import NewLineStep, TokenizerStep
from lerobot_training.processor import PREPROCESSOR_NAME, PolicyProcessor

CAMERA = "observation.images.front"
LM_HEAD = "model.paligemma_with_expert.paligemma.lm_head.weight"
EMBED_TOKENS = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
TASKS = ["pick up the red cube", "push the block to the left", "open the drawer", "stack the green blocks"]
LANG_LENGTH = 8
CHUNK = 4


def tiny_pi0_options(**overrides):
    """π₀ with a 2-layer SigLIP on 28×28 images, two 2-layer Gemmas (widths 64 and 32): ~0.2 M parameters."""
    options = {
        "paligemma_variant": "dummy",
        "action_expert_variant": "dummy_expert",
        "image_resolution": [28, 28],
        "chunk_size": CHUNK,
        "n_action_steps": CHUNK,
        "tokenizer_max_length": LANG_LENGTH,
        "num_inference_steps": 5,
        "device": "cpu",
    }
    return {**options, **overrides}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A word-level tokenizer saved like a transformers tokenizer (AutoTokenizer loads it by directory)."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<bos>"])
    tokenizer.train_from_iterator([*TASKS, "follow the line"], trainer)
    directory = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>").save_pretrained(
        directory
    )
    return directory


@pytest.fixture
def features(helpers):
    return helpers.dataset_features(cameras={"front": (32, 40)})  # not square: resized with padding


def tiny_policy(features, **overrides) -> PI0Policy:
    return make_policy(make_policy_config("pi0", **tiny_pi0_options(**overrides)), features)


def make_batch(policy, tokenizer_dir, batch_size=2, seed=0):
    """A preprocessed batch: tokens from the preprocessor's steps, state in [-1, 1], images in [0, 1] and
    actions that are a fixed function of the state (learnable)."""
    generator = torch.Generator().manual_seed(seed)
    tasks = [TASKS[i % len(TASKS)] for i in range(batch_size)]
    batch = TokenizerStep(str(tokenizer_dir), LANG_LENGTH)(NewLineStep()({"task": tasks}))
    state = torch.rand(batch_size, 6, generator=generator) * 2 - 1
    steps = torch.linspace(0, 1, CHUNK).view(1, CHUNK, 1)
    batch.update(
        {
            "observation.state": state,
            CAMERA: torch.rand(batch_size, 3, 32, 40, generator=generator),
            "action": state[:, None] * (1 - steps) - state[:, None].flip(-1) * steps,
            "action_is_pad": torch.zeros(batch_size, CHUNK, dtype=torch.bool),
        }
    )
    return batch


# -- lerobot compatibility ----------------------------------------------------------------------------------


def full_size_on_meta(helpers, **options) -> PI0Policy:
    config = make_policy_config("pi0", **options)
    fit_features_to_dataset(config, helpers.dataset_features(cameras={"base_0_rgb": (224, 224)}))
    with torch.device("meta"):
        return PI0Policy(config)


def test_full_size_state_dict_equals_lerobot_and_counts_parameters(helpers):
    reference = {
        name: (helpers.parse_shape(shape), dtype)
        for name, shape, dtype in helpers.read_tsv("pi0.state_dict.tsv")
    }
    policy = full_size_on_meta(helpers)
    ours = {
        name: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in policy.state_dict().items()
    }
    assert sorted(ours) == sorted(reference)  # 778 names, the expert without embed_tokens
    assert ours == reference
    # lm_head and embed_tokens are two tensors, as in lerobot 0.6.1: its count, 4.03 B, holds both.
    parameters = sum(p.numel() for p in policy.parameters())
    print(f"π₀ full size: {parameters / 1e9:.3f} B parameters")
    assert parameters == sum(t.numel() for t in policy.state_dict().values())
    assert 4.02e9 < parameters < 4.04e9


def test_bfloat16_keeps_lerobots_float32_tensors(helpers):
    policy = full_size_on_meta(helpers, dtype="bfloat16")
    float32 = {name for name, t in policy.state_dict().items() if t.dtype == torch.float32}
    # lerobot 0.6.1: the vision tower, the image projection, every RMSNorm and π₀'s own projections.
    kept = (".vision_tower.", ".multi_modal_projector.", "layernorm.", ".norm.", "model.state_proj.")
    kept += ("model.action_in_proj.", "model.action_out_proj.", "model.action_time_mlp_")
    assert float32 == {name for name in policy.state_dict() if any(part in name for part in kept)}
    assert (len(float32), len(policy.state_dict())) == (523, 778)
    assert all(t.dtype == torch.bfloat16 for name, t in policy.state_dict().items() if name not in float32)


def test_lerobots_variant_names_build(helpers):
    policy = full_size_on_meta(helpers, paligemma_variant="gemma_300m", action_expert_variant="gemma_300m")
    shapes = {name: tuple(t.shape) for name, t in policy.state_dict().items()}
    prefix = "model.paligemma_with_expert.paligemma."
    # As lerobot builds it: So400m, PaliGemma's vocabulary and a 2048-wide image projection.
    assert shapes[prefix + "model.multi_modal_projector.linear.weight"] == (2048, 1152)
    assert shapes[prefix + "model.language_model.embed_tokens.weight"] == (257152, 1024)
    assert len(shapes) == 778
    # ... which does not fit its 1024-wide Gemma: it builds (files load) but cannot run, as in lerobot.
    image = torch.zeros(1, 256, 2048, device="meta")
    tokens = torch.zeros(1, 4, dtype=torch.long, device="meta")
    with pytest.raises(ValueError, match="cannot run"):
        policy.model.embed_prefix(image, torch.ones(1, 256, dtype=torch.bool), tokens, tokens.bool())
    full_size_on_meta(helpers, action_expert_variant="gemma_2b")


def test_config_json_round_trips_lerobots(helpers):
    reference = json.loads((helpers.REFERENCE_DIR / "pi0.config.json").read_text())
    config = PI0Config.from_dict(reference)
    assert config.to_dict() == reference
    assert config.optimizer_grad_clip_norm == 1.0 and not config.rtc_enabled
    rtc = PI0Config.from_dict({**reference, "rtc_config": {"enabled": True, "execution_horizon": 8}})
    assert rtc.rtc_enabled and rtc.rtc_execution_horizon == 8 and rtc.rtc_max_guidance == 10.0
    assert rtc.to_dict()["rtc_config"] == {
        "enabled": True,
        "execution_horizon": 8,
        "max_guidance_weight": 10.0,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"action_expert_variant": "gemma_2b"}, "must be equal"),
        ({"paligemma_variant": "dummy_expert"}, "paligemma_variant must be one of"),
        ({"action_expert_variant": "gemma_7b"}, "action_expert_variant must be one of"),
        ({"image_resolution": [28, 42]}, "must be square"),
        ({"rtc_config": {"enable": True}}, "rtc_config must be null or a mapping"),
        ({"dtype": "float16"}, "dtype must be one of"),
    ],
)
def test_config_errors_say_what_to_change(change, message):
    with pytest.raises(ValueError, match=message):
        make_policy_config("pi0", **tiny_pi0_options(**change))


# -- masks --------------------------------------------------------------------------------------------------


def test_attention_mask_is_the_papers(features, tokenizer_dir):
    # Prefix: 2 image tokens + 3 language tokens + 1 language pad; suffix: state + 2 action tokens.
    pads = torch.tensor([[1, 1, 1, 1, 1, 0, 1, 1, 1]], dtype=torch.bool)
    blocks = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 0]], dtype=torch.bool)
    expected = torch.tensor(
        [
            # img img  l    l    l   pad  st   a1   a2      (keys)
            [1, 1, 1, 1, 1, 0, 0, 0, 0],  # image: the whole valid prefix, never the suffix
            [1, 1, 1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 1, 0, 0, 0, 0],  # language: same (prefix is bidirectional)
            [1, 1, 1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0],  # padding attends nothing and nothing attends it
            [1, 1, 1, 1, 1, 0, 1, 0, 0],  # state: prefix and itself
            [1, 1, 1, 1, 1, 0, 1, 1, 1],  # actions: prefix, state and every action
            [1, 1, 1, 1, 1, 0, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(make_attention_mask(pads, blocks)[0], expected)

    # The model builds exactly these block starts: none in the prefix, state and first action in the suffix.
    policy = tiny_policy(features)
    _, suffix_pads, suffix_blocks = policy.model.embed_suffix(
        torch.zeros(1, 32), torch.zeros(1, CHUNK, 32), torch.full((1,), 0.5)
    )
    assert suffix_pads.all() and suffix_blocks[0].tolist() == [True, True] + [False] * (CHUNK - 1)
    batch = make_batch(policy, tokenizer_dir, batch_size=1)
    images, masks, tokens, token_masks, _ = policy._inputs(batch)
    _, prefix_pads, prefix_blocks = policy.model.embed_prefix(
        *policy.model.embed_images(images, masks), tokens, token_masks
    )
    assert not prefix_blocks.any()
    patches = (28 // 14) ** 2
    assert prefix_pads[0].tolist() == [True] * patches + batch[OBS_LANGUAGE_ATTENTION_MASK][0].tolist()


def test_images_are_resized_with_padding_and_empty_cameras_are_masked_out(features, tokenizer_dir):
    image = torch.rand(1, 3, 20, 40)
    resized = resize_with_pad(image, 28, 28)  # 40 wide → 28 × 14, centred: 7 rows of black above and below
    assert resized.shape == (1, 3, 28, 28)
    assert (resized[..., :7, :] == 0).all() and (resized[..., 21:, :] == 0).all()
    assert (resized[..., 7:21, :] > 0).all()

    # An empty camera's tokens are padding: they shift no position and nobody attends them.
    plain = tiny_policy(features).eval()
    with_empty = tiny_policy(features, empty_cameras=1).eval()
    with_empty.load_state_dict(plain.state_dict())
    batch = make_batch(plain, tokenizer_dir)
    noise = torch.randn(2, CHUNK, 32)
    torch.testing.assert_close(with_empty.sample_actions(batch, noise), plain.sample_actions(batch, noise))


# -- training and sampling ----------------------------------------------------------------------------------


def test_loss_decreases_on_a_synthetic_task(features, tokenizer_dir):
    policy = tiny_policy(features)
    batch = make_batch(policy, tokenizer_dir, batch_size=16)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    losses = []
    for _ in range(80):
        loss, parts = policy(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(parts["loss"])
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.5 * first, losses  # flow matching keeps a floor (the noise is unpredictable)


def test_loss_averages_only_valid_steps_and_real_action_dims(features, tokenizer_dir):
    policy = tiny_policy(features)
    batch = make_batch(policy, tokenizer_dir)
    noise, t = torch.randn(2, CHUNK, 32), torch.tensor([0.3, 0.8])
    batch["action_is_pad"][:, -1] = True
    loss, _ = policy(batch, noise, t)
    # Only the 6 real action dimensions of the 3 valid steps count, averaged.
    losses = policy.model.compute_loss(
        *policy._inputs(batch), torch.nn.functional.pad(batch["action"], (0, 26)), noise, t
    )
    assert torch.allclose(loss, losses[:, :-1, :6].mean())


def test_kv_cached_sampler_equals_uncached_reference(features, tokenizer_dir):
    policy = tiny_policy(features).eval()
    batch = make_batch(policy, tokenizer_dir, batch_size=3)
    assert not batch[OBS_LANGUAGE_ATTENTION_MASK].all(), "want language padding in the example"
    noise = torch.randn(3, CHUNK, 32)
    cached = policy.sample_actions(batch, noise, use_cache=True)
    assert set(policy.last_latency) == {"vision_ms", "prefix_ms", "denoise_ms", "total_ms"}
    uncached = policy.sample_actions(batch, noise, use_cache=False)
    torch.testing.assert_close(cached, uncached, atol=1e-5, rtol=0)  # float32
    assert not torch.allclose(cached, noise)
    chunk = policy.predict_action_chunk(batch, noise=noise)
    torch.testing.assert_close(chunk, cached[..., :6])
    first = policy.select_action(batch, noise=noise)
    torch.testing.assert_close(first, cached[:, 0, :6])


def test_rtc_hook_gets_a_differentiable_velocity(features, tokenizer_dir, monkeypatch):
    import lerobot_training.policies.rtc as rtc
    from lerobot_training.policies.flow import euler_sample

    policy = tiny_policy(
        features, rtc_config={"enabled": True, "execution_horizon": 3, "max_guidance_weight": 5.0}
    )
    batch = make_batch(policy, tokenizer_dir)
    calls = []

    def spy(velocity, noise, num_steps, prev_actions, inference_delay, execution_horizon, max_guidance):
        x = noise.clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(velocity(x, torch.full((2,), 0.5)).sum(), x)
        calls.append((prev_actions.shape, inference_delay, execution_horizon, max_guidance, grad.abs().sum()))
        return euler_sample(velocity, noise, num_steps)

    monkeypatch.setattr(rtc, "rtc_sample", spy)
    prev = torch.randn(2, 3, 6)
    policy.predict_action_chunk(batch, prev_actions=prev, inference_delay=1)
    shape, delay, horizon, guidance, grad = calls[0]
    assert shape == (2, 3, 32) and (delay, horizon, guidance) == (1, 3, 5.0) and grad > 0

    without = tiny_policy(features)  # rtc_config null: prev_actions are ignored, plain Euler
    without.predict_action_chunk(batch, prev_actions=prev, inference_delay=1)
    assert len(calls) == 1


def test_rtc_keeps_the_executed_prefix(features, tokenizer_dir):
    policy = tiny_policy(features, rtc_config={"enabled": True})
    batch = make_batch(policy, tokenizer_dir)
    prev = torch.randn(2, CHUNK, 6)
    chunk = policy.predict_action_chunk(batch, prev_actions=prev, inference_delay=2)
    torch.testing.assert_close(chunk[:, :2], prev[:, :2])


# -- checkpoints --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tied_name_in_file", ["lm_head", "embed_tokens", "both"])
def test_lerobot_checkpoint_loads_with_no_missing_or_unexpected_keys(
    helpers, features, tokenizer_dir, tmp_path, tied_name_in_file
):
    # Files of the tied layout (older lerobot and suite) hold one tensor for lm_head and embed_tokens.
    policy = tiny_policy(features).eval()
    state = {name: tensor.clone() for name, tensor in policy.state_dict().items()}
    state[LM_HEAD] = state[EMBED_TOKENS].clone()
    policy.load_state_dict(state)
    lm_head, embed = LM_HEAD, EMBED_TOKENS
    drop = {"lm_head": [embed], "embed_tokens": [lm_head], "both": []}[tied_name_in_file]
    save_file({k: v for k, v in state.items() if k not in drop}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(policy.config.to_dict(), indent=4))
    for processor in make_pi0_processors(policy.config, helpers.dataset_stats(features), str(tokenizer_dir)):
        processor.save(tmp_path)

    loaded, preprocessor, _ = load_pretrained(tmp_path)
    result = loaded.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=False)
    assert result.unexpected_keys == [] and result.missing_keys == drop
    batch = make_batch(policy, tokenizer_dir)
    noise = torch.randn(2, CHUNK, 32)
    torch.testing.assert_close(
        loaded.predict_action_chunk(batch, noise=noise), policy.predict_action_chunk(batch, noise=noise)
    )
    observation = {
        "observation.state": torch.zeros(6),
        CAMERA: torch.rand(3, 32, 40),
        "task": "open the drawer",
    }
    assert preprocessor(observation)[OBS_LANGUAGE_TOKENS].shape == (1, LANG_LENGTH)


def test_fine_tuned_token_embedding_is_loaded_and_saved_apart_from_lm_head(
    helpers, features, tokenizer_dir, tmp_path, caplog
):
    # After fine-tuning in lerobot 0.6.1 its file holds a trained embed_tokens and the untouched lm_head.
    policy = tiny_policy(features).eval()
    with torch.no_grad():
        policy.model.paligemma_with_expert.backbone.embed_tokens.weight.mul_(3.0)
    state = policy.state_dict()
    assert state[LM_HEAD].data_ptr() != state[EMBED_TOKENS].data_ptr()
    assert not torch.equal(state[LM_HEAD], state[EMBED_TOKENS])
    pre, post = make_pi0_processors(policy.config, helpers.dataset_stats(features), str(tokenizer_dir))
    save_pretrained(tmp_path, policy, pre, post)
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert set(saved) == set(state)  # both tensors, as lerobot writes them
    with caplog.at_level(logging.WARNING, logger="lerobot_training.checkpoint"):
        loaded, _, _ = load_pretrained(tmp_path)
    assert any("holds different" in record.message for record in caplog.records)
    for name in (LM_HEAD, EMBED_TOKENS):
        assert torch.equal(loaded.state_dict()[name], saved[name]), name
    batch = make_batch(policy, tokenizer_dir)
    noise = torch.randn(2, CHUNK, 32)
    torch.testing.assert_close(loaded.sample_actions(batch, noise), policy.sample_actions(batch, noise))


def test_hub_repo_id_goes_through_snapshot_download(helpers, features, tokenizer_dir, tmp_path, monkeypatch):
    import lerobot_training.checkpoint as checkpoint

    policy = tiny_policy(features).eval()
    pre, post = make_pi0_processors(policy.config, helpers.dataset_stats(features), str(tokenizer_dir))
    save_pretrained(tmp_path / "snapshot", policy, pre, post)
    requests = []

    def offline_snapshot(repo_id, revision, allow_patterns, local_files_only):
        requests.append((repo_id, revision, allow_patterns))
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(checkpoint, "snapshot_download", offline_snapshot)
    loaded, _, _ = load_pretrained("lerobot/pi0_base", revision="main")
    assert requests == [("lerobot/pi0_base", "main", ["*.json", "*.safetensors"])]
    assert isinstance(loaded, PI0Policy)


def test_preprocessor_adds_newline_tokenizes_and_round_trips(helpers, features, tokenizer_dir, tmp_path):
    config = make_policy_config("pi0", **tiny_pi0_options())
    fit_features_to_dataset(config, features)
    preprocessor, _ = make_pi0_processors(config, helpers.dataset_stats(features), str(tokenizer_dir))
    observation = {
        "observation.state": torch.zeros(6),
        CAMERA: torch.rand(3, 32, 40),
        "task": "open the drawer",
    }
    out = preprocessor(observation)
    assert out["task"] == ["open the drawer\n"]
    assert out[OBS_LANGUAGE_TOKENS].dtype == torch.int64
    assert out[OBS_LANGUAGE_ATTENTION_MASK].tolist() == [[True] * 3 + [False] * (LANG_LENGTH - 3)]
    assert torch.equal(out[CAMERA], observation[CAMERA][None])  # VISUAL: IDENTITY
    preprocessor.save(tmp_path)
    spec = json.loads((tmp_path / f"{PREPROCESSOR_NAME}.json").read_text())
    assert [step["registry_name"] for step in spec["steps"]] == [
        "rename_observations_processor",
        "to_batch_processor",
        "pi0_new_line_processor",
        "tokenizer_processor",
        "device_processor",
        "normalizer_processor",
    ]
    reloaded = PolicyProcessor.load(tmp_path, PREPROCESSOR_NAME)
    assert torch.equal(reloaded(observation)[OBS_LANGUAGE_TOKENS], out[OBS_LANGUAGE_TOKENS])
    with pytest.raises(ValueError, match="needs the task text"):
        preprocessor({"observation.state": torch.zeros(6), CAMERA: torch.rand(3, 32, 40)})


def test_lerobot_processor_steps_and_tokenizer_name_load_offline(
    helpers, features, tokenizer_dir, tmp_path, monkeypatch
):
    # lerobot 0.6.1's π₀ files list (disabled) relative/absolute action steps and name PaliGemma's tokenizer.
    config = make_policy_config("pi0", **tiny_pi0_options())
    fit_features_to_dataset(config, features)
    preprocessor, _ = make_pi0_processors(
        config, helpers.dataset_stats(features), "google/paligemma-3b-pt-224"
    )
    preprocessor.save(tmp_path)
    path = tmp_path / f"{PREPROCESSOR_NAME}.json"
    spec = json.loads(path.read_text())
    relative = {"registry_name": "relative_actions_processor", "config": {"enabled": False}}
    spec["steps"].insert(5, relative)
    path.write_text(json.dumps(spec))
    monkeypatch.setenv("LEROBOT_PI0_TOKENIZER", str(tokenizer_dir))
    loaded = PolicyProcessor.load(tmp_path, PREPROCESSOR_NAME)
    out = loaded(
        {"observation.state": torch.zeros(6), CAMERA: torch.rand(3, 32, 40), "task": "open the drawer"}
    )
    assert out[OBS_LANGUAGE_ATTENTION_MASK].sum() == 3
    relative["config"]["enabled"] = True
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="relative actions are not supported"):
        PolicyProcessor.load(tmp_path, PREPROCESSOR_NAME)


# -- fine-tuning options ------------------------------------------------------------------------------------


def assert_every_trainable_parameter_learns(policy, batch):
    """What DistributedDataParallel needs (it fails on trainable parameters that get no gradient)."""
    policy.zero_grad()
    policy(batch)[0].backward()
    idle = [name for name, p in policy.named_parameters() if p.requires_grad and p.grad is None]
    assert not idle, idle
    assert all(p.grad is None for p in policy.parameters() if not p.requires_grad)


def test_freezing_options(features, tokenizer_dir):
    def trainable(policy):
        return {name for name, p in policy.named_parameters() if p.requires_grad}

    full = trainable(tiny_policy(features))
    frozen_vision = trainable(tiny_policy(features, freeze_vision_encoder=True))
    expert_only = trainable(tiny_policy(features, train_expert_only=True))
    assert full - frozen_vision and all(".vision_tower." in name for name in full - frozen_vision)
    assert not any(".paligemma." in name for name in expert_only)
    assert (
        any(".gemma_expert." in name for name in expert_only) and "model.action_in_proj.weight" in expert_only
    )
    never_read = {
        "model.paligemma_with_expert.gemma_expert.lm_head.weight",
        LM_HEAD,
        "model.paligemma_with_expert.paligemma.model.language_model.norm.weight",
        "model.paligemma_with_expert.paligemma.model.language_model.layers.1.mlp.up_proj.weight",
    }
    assert not never_read & full
    # The token embedding learns (as in lerobot); PaliGemma's lm_head, a tensor of its own, is never read.
    assert EMBED_TOKENS in full
    for options in ({}, {"freeze_vision_encoder": True}, {"train_expert_only": True}):
        policy = tiny_policy(features, **options)
        assert_every_trainable_parameter_learns(policy, make_batch(policy, tokenizer_dir))


def test_gradient_checkpointing_gives_the_same_gradients(features, tokenizer_dir):
    plain, checkpointed = tiny_policy(features), tiny_policy(features, gradient_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    batch = make_batch(plain, tokenizer_dir)
    noise, t = torch.randn(2, CHUNK, 32), torch.tensor([0.2, 0.7])
    for policy in (plain, checkpointed):
        policy.train()
        policy(batch, noise, t)[0].backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_lora_trains_only_adapters(helpers, features, tokenizer_dir, tmp_path):
    policy = tiny_policy(features)
    apply_lora(policy, rank=4)
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert any("gemma_expert" in n for n in trainable) and any("language_model" in n for n in trainable)
    assert not any("vision_tower" in n for n in trainable)
    batch = make_batch(policy, tokenizer_dir)
    assert_every_trainable_parameter_learns(policy, batch)

    expert_only = apply_lora(tiny_policy(features, train_expert_only=True), rank=4)
    assert all("gemma_expert" in n for n, p in expert_only.named_parameters() if p.requires_grad)
    via_config = tiny_policy(features, use_peft=True)
    assert all("lora_" in n for n, p in via_config.named_parameters() if p.requires_grad)
    # use_peft checkpoints keep peft's names (base_layer, lora_A/B) and reload into a use_peft policy.
    pre, post = make_pi0_processors(via_config.config, helpers.dataset_stats(features), str(tokenizer_dir))
    save_pretrained(tmp_path, via_config, pre, post)
    reloaded, _, _ = load_pretrained(tmp_path)
    assert set(reloaded.state_dict()) == set(via_config.state_dict())


def test_bfloat16_runs_and_scheduler_preset(features, tokenizer_dir):
    policy = tiny_policy(features, dtype="bfloat16").eval()
    # lerobot's mixed precision: Gemma layers in bfloat16, π₀'s projections and the norms in float32.
    layer = policy.model.paligemma_with_expert.expert.layers[0]
    assert layer.self_attn.q_proj.weight.dtype == torch.bfloat16
    assert layer.input_layernorm.weight.dtype == policy.model.action_in_proj.weight.dtype == torch.float32
    actions = policy.predict_action_chunk(make_batch(policy, tokenizer_dir))
    assert actions.dtype == torch.float32 and torch.isfinite(actions).all()

    config = make_policy_config(
        "pi0", **tiny_pi0_options(scheduler_warmup_steps=10, scheduler_decay_steps=100)
    )
    optimizer = config.make_optimizer([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["betas"] == (0.9, 0.95)
    scheduler = config.make_scheduler(
        optimizer, num_training_steps=50
    )  # shorter run: phases squeezed to 5/50
    lrs = []
    for _ in range(51):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(2.5e-5 / 6) and max(lrs) == lrs[5] > 0.95 * 2.5e-5
    assert lrs[50] == pytest.approx(2.5e-6) and all(a >= b for a, b in itertools.pairwise(lrs[5:]))


# -- training through the CLI -------------------------------------------------------------------------------


def test_training_run_through_the_cli(learnable_dataset, tokenizer_dir, tmp_path, monkeypatch):
    from lerobot_training.train_cli import main
    from lerobot_training.train_log import read_log

    monkeypatch.setenv("LEROBOT_PI0_TOKENIZER", str(tokenizer_dir))
    options = {
        f"policy.{k}": v for k, v in tiny_pi0_options(optimizer_lr=1e-3, scheduler_warmup_steps=0).items()
    }
    options["policy.image_resolution"] = "[28,28]"
    options.update({"policy.type": "pi0", "dataset.root": learnable_dataset, "output_dir": tmp_path / "run"})
    options.update({"num_workers": 0, "log_freq": 1, "batch_size": 4, "steps": 6, "save_freq": 6})
    assert main([f"--{key}={value}" for key, value in options.items()]) == 0
    rows = read_log(tmp_path / "run" / "train_log.csv")
    assert len(rows) == 6 and all(row["grad_norm"] >= 0 for row in rows)
    pretrained = tmp_path / "run" / "checkpoints" / "last" / "pretrained_model"
    policy, preprocessor, postprocessor = load_pretrained(pretrained)
    assert isinstance(policy, PI0Policy) and policy.config.chunk_size == CHUNK
    observation = {
        "observation.state": torch.zeros(4),
        CAMERA: torch.rand(3, 48, 64),
        "task": "follow the line",
    }
    action = postprocessor(policy.select_action(preprocessor(observation)))
    assert action.shape == (1, 4) and torch.isfinite(action).all()
