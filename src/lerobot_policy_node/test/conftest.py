"""Checkpoints several test modules of the policy node use."""

from pathlib import Path

import pytest

from lerobot_dataset.features import DEFAULT_FEATURES

PI0_JOINTS = 2
PI0_CAMERA = "observation.images.front"
PI0_TASK = "move the arm"


@pytest.fixture(scope="module")
def tiny_pi0(tmp_path_factory) -> Path:
    """The real π₀ at its tiny test size (random weights), with real-time chunking enabled and a word-level
    tokenizer made here (PaliGemma's cannot be downloaded): 2 joints, one 16×16 camera, chunks of 8."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from lerobot_training.checkpoint import save_pretrained
    from lerobot_training.policies import make_policy, make_policy_config
    from lerobot_training.policies.pi0 import make_pi0_processors

    folder = tmp_path_factory.mktemp("tiny_pi0")
    words = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    words.train_from_iterator(
        [PI0_TASK], tokenizers.trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>"])
    )
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=words, pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(folder / "tokenizer")
    features = {
        "observation.state": {"dtype": "float32", "shape": [PI0_JOINTS], "names": None},
        "action": {"dtype": "float32", "shape": [PI0_JOINTS], "names": None},
        PI0_CAMERA: {"dtype": "video", "shape": [16, 16, 3], "names": ["height", "width", "channels"]},
        **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
    }
    stats = {
        name: {"mean": [0.5] * PI0_JOINTS, "std": [2.0] * PI0_JOINTS, "min": [-5.0] * PI0_JOINTS,
               "max": [5.0] * PI0_JOINTS}
        for name in ("observation.state", "action")
    }  # fmt: skip
    config = make_policy_config(
        "pi0", paligemma_variant="dummy", action_expert_variant="dummy_expert", image_resolution=[28, 28],
        chunk_size=8, n_action_steps=8, tokenizer_max_length=8, num_inference_steps=5, device="cpu",
        rtc_config={"enabled": True, "execution_horizon": 8, "max_guidance_weight": 10.0},
    )  # fmt: skip
    policy = make_policy(config, features)
    processors = make_pi0_processors(config, stats, tokenizer_name=str(folder / "tokenizer"))
    return save_pretrained(folder / "pm", policy, *processors)
