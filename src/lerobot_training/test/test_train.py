"""lerobot-ros-train end to end on a small learnable dataset: learning, logs, checkpoints, exact resume and
the errors a user meets first (exit status 2 with a message saying what to change)."""

import json
import os
import re

import pytest
import torch
from safetensors.torch import load_file

from lerobot_training import train as train_module
from lerobot_training.checkpoint import load_pretrained
from lerobot_training.train_cli import main
from lerobot_training.train_log import read_log


def test_act_learns_and_writes_logs_and_checkpoints(trained_act):
    rows = read_log(trained_act / "train_log.csv")
    assert [row["step"] for row in rows] == list(range(1, 25))
    losses = [row["loss"] for row in rows]
    first, last = sum(losses[:3]) / 3, sum(losses[-4:]) / 4
    assert last < 0.2 * first, f"loss did not go down: {losses}"
    assert all(row["lr"] == pytest.approx(1e-3) and row["samples_per_s"] > 0 for row in rows)

    checkpoints = trained_act / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["000012", "000024", "last"]
    assert os.readlink(checkpoints / "last") == "000024"
    pretrained = checkpoints / "last" / "pretrained_model"
    assert (pretrained / "lerobot_ros_mapping.yaml").read_text().startswith("# the recording's topic mapping")
    train_config = json.loads((pretrained / "train_config.json").read_text())
    assert train_config["policy"]["type"] == "act" and train_config["policy"]["chunk_size"] == 8
    assert train_config["dataset"]["image_transforms"]["enable"] is True
    assert (trained_act / "training_curve.png").read_bytes().startswith(b"\x89PNG")
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(trained_act / "tensorboard"))

    policy, _, _ = load_pretrained(pretrained)
    assert policy.config.input_features["observation.images.front"].shape == (3, 48, 64)


def test_resume_continues_the_same_trajectory(helpers, learnable_dataset, tmp_path):
    # Augmentation and the VAE's sampling both draw random numbers: resuming must restore every stream.
    augment = {"dataset.image_transforms.enable": "true"}
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert (
        main(helpers.act_train_args(learnable_dataset, whole, steps=6, save_freq=3, num_workers=1, **augment))
        == 0
    )
    assert main(helpers.act_train_args(learnable_dataset, split, steps=3, save_freq=3, **augment)) == 0
    torch.manual_seed(123)  # a resumed run must not depend on the state of the process that starts it
    assert main([f"--output_dir={split}", "--resume=true", "--steps=6"]) == 0

    def trajectory(run):
        return [(row["step"], row["loss"], row["grad_norm"]) for row in read_log(run / "train_log.csv")]

    assert [step for step, _, _ in trajectory(split)] == [1, 2, 3, 4, 5, 6]
    assert trajectory(split) == trajectory(whole)  # bit for bit, steps 4-6 included
    weights = [load_file(d / "checkpoints/last/pretrained_model/model.safetensors") for d in (whole, split)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_resume_restores_the_loss_scale(helpers, learnable_dataset, tmp_path, monkeypatch):
    # float16 on CUDA scales the loss; CPU autocast with torch's CPU GradScaler takes the same code path.
    # Growth every 3 steps: a scaler restarted at step 2 would still be at 1024 after step 4, not at 2048.
    def cpu_loss_scaling(cls, requested, device):
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
        return cls(True, "cpu", torch.bfloat16, scaler)

    monkeypatch.setattr(train_module.Precision, "choose", classmethod(cpu_loss_scaling))
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(helpers.act_train_args(learnable_dataset, whole, steps=4, save_freq=2)) == 0
    assert main(helpers.act_train_args(learnable_dataset, split, steps=2)) == 0
    assert main([f"--output_dir={split}", "--resume=true", "--steps=4"]) == 0

    def scaler_state(run, step):
        state = json.loads((run / f"checkpoints/{step}/training_state/grad_scaler_state.json").read_text())
        return state["scale"], state["_growth_tracker"]

    assert scaler_state(whole, "000002") == scaler_state(split, "000002") == (1024, 2)
    assert scaler_state(whole, "000004") == scaler_state(split, "000004") == (2048, 1)
    weights = [load_file(d / "checkpoints/last/pretrained_model/model.safetensors") for d in (whole, split)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.fixture(scope="module")
def dataset_without_cameras(helpers, tmp_path_factory):
    root = tmp_path_factory.mktemp("no_cameras") / "dataset"
    return helpers.write_learnable_dataset(root, episodes=1, length=12, cameras=False, mapping=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"policy.chunk_sise": 5}, r"unknown option 'policy\.chunk_sise'.*did you mean 'chunk_size'"),
        ({"batch_sise": 5}, r"unknown option 'batch_sise'.*did you mean 'batch_size'"),
        ({"dataset.image_transforms.enabled": "true"}, r"did you mean 'enable'"),
        ({"policy.type": "actt"}, r"unknown policy type 'actt'; available: \['act', 'diffusion', 'pi0'\]"),
        ({"log_freq": "often"}, r"option 'log_freq' needs an int, got 'often'"),
        ({"dataset.root": "/nonexistent/dataset"}, r"dataset root /nonexistent/dataset does not exist"),
        ({"dataset.episodes": "[2,9]"}, r"episodes names \[9\], which the dataset lacks \(0\.\.5\)"),
        ("no_cameras", r"act needs at least one camera"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    helpers, learnable_dataset, dataset_without_cameras, tmp_path, capsys, change, message
):
    if change == "no_cameras":
        change = {"dataset.root": dataset_without_cameras}
    args = helpers.act_train_args(learnable_dataset, tmp_path / "run", steps=2, **change)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lerobot-ros-train: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_default_backbone_offline_exits_2_saying_what_to_do(
    helpers, learnable_dataset, tmp_path, capsys, monkeypatch
):
    # lerobot's default ImageNet backbone, an empty torch hub cache, no network: a clear error, no traceback.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    args = helpers.act_train_args(learnable_dataset, tmp_path / "run", steps=2)
    args = [arg for arg in args if not arg.startswith("--policy.pretrained_backbone_weights=")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lerobot-ros-train: error: could not download the pretrained backbone weights")
    assert "--policy.pretrained_backbone_weights=null" in err and "TORCH_HOME" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_help_says_which_backbone_weights_and_how_to_do_without(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--policy.pretrained_backbone_weights=ResNet18_Weights.IMAGENET1K_V1" in out
    assert "--policy.pretrained_backbone_weights=null" in out and "$TORCH_HOME" in out


def test_output_dir_of_a_previous_run_needs_resume(trained_act, helpers, learnable_dataset, capsys):
    assert main(helpers.act_train_args(learnable_dataset, trained_act, steps=2)) == 2
    assert "already holds a run; pass --resume=true" in capsys.readouterr().err
    assert main([f"--output_dir={trained_act}", "--resume=true", "--steps=24"]) == 2
    assert "raise --steps to train further" in capsys.readouterr().err


def test_diffusion_learns_through_the_cli(helpers, learnable_dataset, tmp_path):
    # Predicting the clean actions ("sample") shows learning within a few steps; epsilon needs many more.
    options = helpers.tiny_diffusion_options(
        scheduler_name="constant", crop_shape=[40, 56], prediction_type="sample"
    )
    args = [
        f"--policy.{key}={list(value) if isinstance(value, tuple) else value}"
        for key, value in options.items()
    ]
    args += [
        "--policy.type=diffusion",
        "--policy.device=cpu",
        f"--dataset.root={learnable_dataset}",
        f"--output_dir={tmp_path}",
        "--steps=16",
        "--log_freq=1",
        "--num_workers=0",
    ]
    assert main(args) == 0
    losses = [row["loss"] for row in read_log(tmp_path / "train_log.csv")]
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:3]) / 3, losses
    config = json.loads((tmp_path / "checkpoints/last/pretrained_model/config.json").read_text())
    assert config["type"] == "diffusion" and config["drop_n_last_frames"] == 7 and config["horizon"] == 8


def _config_with_front(tmp_path, height: int, width: int):
    config = tmp_path / "small_camera.yaml"
    shapes = {"observation.state": ("STATE", [4]), "observation.images.front": ("VISUAL", [3, height, width])}
    lines = [f"    {key}: {{type: {kind}, shape: {shape}}}" for key, (kind, shape) in shapes.items()]
    config.write_text("policy:\n  type: act\n  input_features:\n" + "\n".join(lines) + "\n")
    return config


def test_a_camera_trains_at_a_smaller_size_of_its_aspect_ratio(
    helpers, learnable_dataset, tmp_path, monkeypatch
):
    """The 64×48 camera is trained on at 32×24: the loader resizes it (the policy node's rule), the model sees
    that size, the checkpoint says it, and the offline evaluation resizes the same way."""
    from lerobot_training import evaluate as evaluate_module

    seen = []

    class Recording(train_module.LeRobotTorchDataset):
        def __getitem__(self, idx):
            item = super().__getitem__(idx)
            seen.append(tuple(item["observation.images.front"].shape[-2:]))
            return item

    monkeypatch.setattr(train_module, "LeRobotTorchDataset", Recording)
    output = tmp_path / "run"
    args = helpers.act_train_args(learnable_dataset, output, steps=2)
    assert main([f"--config={_config_with_front(tmp_path, 24, 32)}", *args]) == 0
    assert set(seen) == {(24, 32)}
    checkpoint = output / "checkpoints" / "last" / "pretrained_model"
    policy, _, _ = load_pretrained(checkpoint, device="cpu")
    assert policy.config.input_features["observation.images.front"].shape == (3, 24, 32)
    result = evaluate_module.evaluate(checkpoint, learnable_dataset, [5], device="cpu")
    assert result.episodes[0].frames == 20 and result.l1 > 0


def test_a_camera_of_another_aspect_ratio_is_refused(helpers, learnable_dataset, tmp_path, capsys):
    args = helpers.act_train_args(learnable_dataset, tmp_path / "run", steps=2)
    assert main([f"--config={_config_with_front(tmp_path, 24, 24)}", *args]) == 2
    err = capsys.readouterr().err
    assert "camera 'observation.images.front' gives 64×48 images" in err and "24×24" in err, err
    assert not (tmp_path / "run" / "checkpoints").exists()
