"""Fine-tuning from pretrained weights: ``lerobot-ros-train --policy.path=DIR_OR_HUB_ID``. Tiny models written
here (ACT trained 3 steps, a random tiny π₀ saved as a Hub snapshot would hold it); no network."""

import json
import re
import shutil

import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

import lerobot_training.checkpoint as checkpoint
import lerobot_training.train as train_module
from lerobot_training.checkpoint import fit_pretrained_features, load_pretrained, save_pretrained
from lerobot_training.features import FeatureError
from lerobot_training.options import OptionError
from lerobot_training.policies import make_policy, make_policy_config
from lerobot_training.policies.pi0 import PI0Policy, make_pi0_processors
from lerobot_training.train_cli import HELP, main
from lerobot_training.train_config import TrainConfig

LAST_PRETRAINED = ("checkpoints", "last", "pretrained_model")
HUB_ID = "someone/tiny_pi0"
PI0_CAMERAS = {"base_0_rgb": (32, 32), "left_wrist_0_rgb": (32, 32)}  # + 1 empty camera: 3 image slots


def run_args(path, dataset, output_dir, **extra):
    options = {"policy.path": path, "dataset.root": dataset, "output_dir": output_dir, "steps": 1}
    options.update({"num_workers": 0, "log_freq": 1, "batch_size": 4, **extra})
    return [f"--{key}={value}" for key, value in options.items()]


def read_json(path):
    return json.loads(path.read_text())


@pytest.fixture
def first_step(monkeypatch):
    """What the policy holds when its first update starts (weights loaded, nothing trained yet)."""
    seen = {}
    original = train_module.train_step

    def spy(model, *args, **kwargs):
        if not seen:
            seen["state"] = {name: t.detach().clone() for name, t in model.state_dict().items()}
            seen["trainable"] = [name for name, p in model.named_parameters() if p.requires_grad]
        return original(model, *args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", spy)
    return seen


@pytest.fixture(scope="module")
def act_checkpoint(helpers, learnable_dataset, tmp_path_factory):
    """The pretrained_model directory of a 3-step tiny ACT run on the learnable dataset."""
    torch.set_num_threads(1)
    output_dir = tmp_path_factory.mktemp("act_pretrained") / "run"
    assert main(helpers.act_train_args(learnable_dataset, output_dir, steps=3, save_freq=3)) == 0
    return output_dir.joinpath(*LAST_PRETRAINED).resolve()


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        ["follow the line"], trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>"])
    )
    directory = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>").save_pretrained(
        directory
    )
    return directory


@pytest.fixture
def pi0_snapshot(helpers, tokenizer_dir, tmp_path, monkeypatch):
    """A tiny random π₀ trained on 6-dim state/action and two cameras, served as Hub repo HUB_ID; returns
    (the snapshot directory, the snapshot_download requests)."""
    features = helpers.dataset_features(state_dim=6, action_dim=6, cameras=PI0_CAMERAS)
    options = {
        "paligemma_variant": "dummy",
        "action_expert_variant": "dummy_expert",
        "image_resolution": [28, 28],
        "chunk_size": 4,
        "n_action_steps": 4,
        "tokenizer_max_length": 8,
        "empty_cameras": 1,
        "device": "cpu",
    }
    policy = make_policy(make_policy_config("pi0", **options), features)
    pre, post = make_pi0_processors(policy.config, helpers.dataset_stats(features), str(tokenizer_dir))
    snapshot = save_pretrained(tmp_path / "snapshot", policy, pre, post)
    requests = []

    def offline_snapshot(repo_id, revision, allow_patterns, local_files_only):
        requests.append((repo_id, revision, allow_patterns))
        return str(snapshot)

    monkeypatch.setattr(checkpoint, "snapshot_download", offline_snapshot)
    monkeypatch.delenv("LEROBOT_PI0_TOKENIZER", raising=False)  # the checkpoint's tokenizer is used
    return snapshot, requests


def test_act_fine_tunes_from_a_checkpoint_directory(
    act_checkpoint, learnable_dataset, tmp_path, first_step, capsys
):
    output_dir = tmp_path / "finetune"
    step_dir = act_checkpoint.parent  # the step directory above pretrained_model works too
    args = run_args(step_dir, learnable_dataset, output_dir, **{"policy.optimizer_lr": 5e-4})
    assert main(args) == 0
    saved = load_file(str(act_checkpoint / "model.safetensors"))
    assert set(first_step["state"]) == set(saved)
    for name, tensor in saved.items():
        assert torch.equal(first_step["state"][name], tensor), name

    config = read_json(output_dir.joinpath(*LAST_PRETRAINED, "config.json"))
    pretrained = read_json(act_checkpoint / "config.json")
    assert config["pretrained_path"] == str(act_checkpoint)
    assert config["optimizer_lr"] == 5e-4  # a command-line key overrides the checkpoint's config.json
    assert {k: v for k, v in config.items() if k not in ("pretrained_path", "optimizer_lr")} == {
        k: v for k, v in pretrained.items() if k not in ("pretrained_path", "optimizer_lr")
    }
    train_config = read_json(output_dir.joinpath(*LAST_PRETRAINED, "train_config.json"))
    assert "path" not in train_config["policy"] and train_config["policy"]["pretrained_path"] == str(
        act_checkpoint
    )
    out = capsys.readouterr().out
    assert f"fine-tuning {act_checkpoint}" in out and "normalization statistics: this dataset's" in out


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_pi0_from_the_hub_fits_a_dataset_with_other_dims_and_cameras(
    pi0_snapshot, learnable_dataset, tokenizer_dir, tmp_path, first_step, capsys, lora
):
    snapshot, requests = pi0_snapshot
    extra = {"policy.use_peft": "true", "policy.train_expert_only": "true"} if lora else {}
    output_dir = tmp_path / "finetune"
    assert main(run_args(HUB_ID, learnable_dataset, output_dir, batch_size=2, **extra)) == 0
    assert requests == [(HUB_ID, None, ["*.json", "*.safetensors"])]
    saved = load_file(str(snapshot / "model.safetensors"))
    # peft keeps a wrapped layer's weight as <layer>.base_layer.weight; adapters are new, the rest loaded.
    loaded = {
        name.replace(".base_layer", ""): t for name, t in first_step["state"].items() if "lora_" not in name
    }
    assert set(saved) <= set(loaded)
    for name, tensor in saved.items():
        assert torch.equal(loaded[name], tensor), name
    if lora:
        trainable = first_step["trainable"]
        assert trainable and all("lora_" in n and "gemma_expert" in n for n in trainable)

    pretrained = output_dir.joinpath(*LAST_PRETRAINED)
    config = read_json(pretrained / "config.json")
    assert config["pretrained_path"] == HUB_ID and config["use_peft"] is lora
    assert config["input_features"]["observation.state"]["shape"] == [4]
    assert config["output_features"]["action"]["shape"] == [4]
    cameras = [k for k, ft in config["input_features"].items() if ft["type"] == "VISUAL"]
    assert cameras == ["observation.images.front"] and config["empty_cameras"] == 2
    steps = read_json(pretrained / "policy_preprocessor.json")["steps"]
    tokenizer = next(s for s in steps if s["registry_name"] == "tokenizer_processor")
    assert tokenizer["config"]["tokenizer_name"] == str(tokenizer_dir)
    out = capsys.readouterr().out
    assert "state: 6 -> 4 dims, action: 6 -> 4 dims" in out
    assert "0 (observation.images.base_0_rgb): observation.images.front" in out

    policy, preprocessor, postprocessor = load_pretrained(pretrained)
    assert isinstance(policy, PI0Policy)
    observation = {"observation.state": torch.zeros(4), "observation.images.front": torch.rand(3, 48, 64)}
    action = postprocessor(policy.select_action(preprocessor({**observation, "task": "follow the line"})))
    assert action.shape == (1, 4) and torch.isfinite(action).all()


def test_pi0_takes_up_to_three_cameras_in_order_and_at_most_32_dims(helpers):
    config = make_policy_config(
        "pi0",
        input_features={
            "observation.state": {"type": "STATE", "shape": [6]},
            "observation.images.base_0_rgb": {"type": "VISUAL", "shape": [3, 224, 224]},
        },
        output_features={"action": {"type": "ACTION", "shape": [6]}},
        device="cpu",
    )
    cameras = {name: (32, 32) for name in ("top", "wrist", "side", "extra")}
    notes = fit_pretrained_features(config, helpers.dataset_features(8, 7, cameras))
    assert list(config.image_features) == [f"observation.images.{n}" for n in ("top", "wrist", "side")]
    assert config.empty_cameras == 0 and config.action_feature.shape == (7,)
    assert "2 (new): observation.images.side" in notes[1]
    assert notes[2] == "cameras not used (π₀ takes 3, in the dataset's order): ['observation.images.extra']"
    fit_pretrained_features(config, helpers.dataset_features(40, 7, {"top": (32, 32)}))
    assert config.empty_cameras == 2  # the 3 slots it had stay, as empty cameras
    with pytest.raises(FeatureError, match=r"observation.state has 40 dimensions, more than max_state_dim"):
        config.validate_features()


def test_act_checkpoint_with_another_action_dim_is_a_clear_error(
    act_checkpoint, learnable_dataset, tmp_path, capsys
):
    other = tmp_path / "act_action6"
    shutil.copytree(act_checkpoint, other)
    config = read_json(other / "config.json")
    config["output_features"]["action"]["shape"] = [6]
    (other / "config.json").write_text(json.dumps(config))
    assert main(run_args(other, learnable_dataset, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert "the pretrained act checkpoint does not fit this dataset" in err
    assert "'action' is ACTION [6] for the policy but ACTION [4] in the dataset" in err
    assert "train from scratch with --policy.type=act" in err

    # An option that resizes the model: the weights no longer fit, and the error names the tensors.
    assert (
        main(run_args(act_checkpoint, learnable_dataset, tmp_path / "run", **{"policy.dim_model": 32})) == 2
    )
    err = capsys.readouterr().err
    assert (
        "does not fit the act policy built from its config.json refit to the dataset and the options" in err
    )
    assert "with another shape: model." in err
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    ("path", "extra", "message"),
    [
        (
            "/nonexistent/checkpoint",
            {},
            r"'/nonexistent/checkpoint' is neither a directory nor a Hub repo id",
        ),
        ("nobody/missing", {}, r"'nobody/missing' is not a local directory, and getting it from the Hugging"),
        ("empty", {}, r"holds no config\.json \(nor pretrained_model/config\.json\)"),
        (
            "act",
            {"policy.type": "diffusion"},
            r"--policy\.type=diffusion but .* has type 'act': drop --policy\.type",
        ),
        ("act", {"policy.chunk_sise": 4}, r"unknown option 'policy\.chunk_sise'.*did you mean 'chunk_size'"),
    ],
)
def test_bad_pretrained_paths_exit_2_with_a_clear_message(
    act_checkpoint, learnable_dataset, tmp_path, capsys, monkeypatch, path, extra, message
):
    def no_network(**kwargs):
        raise LocalEntryNotFoundError("cannot reach the Hub")

    monkeypatch.setattr(checkpoint, "snapshot_download", no_network)
    (tmp_path / "empty").mkdir()
    path = {"empty": tmp_path / "empty", "act": act_checkpoint}.get(path, path)
    assert main(run_args(path, learnable_dataset, tmp_path / "run", **extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lerobot-ros-train: error: ")
    assert re.search(message, err), err


def test_help_and_resume_with_a_path():
    assert "--policy.path=DIR_OR_HUB_ID" in HELP
    with pytest.raises(OptionError, match=r"drop --policy\.path to resume"):
        TrainConfig.from_dict({"resume": True, "policy": {"path": "lerobot/pi0_base"}})
