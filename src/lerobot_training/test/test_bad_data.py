"""Bad datasets, outputs and checkpoints stop `lerobot-ros-train` and `lerobot-ros-eval` with exit status 2
and a message saying what is wrong, never a traceback and never a run that "succeeds" with NaN weights."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_training.eval_cli import main as eval_main
from lerobot_training.train_cli import main as train_main

DATA_FILE = "data/chunk-000/file-000.parquet"
PREPROCESSOR_FILES = "policy_preprocessor*"


@pytest.fixture
def dataset(learnable_dataset, tmp_path) -> Path:
    """A copy of the session's learnable dataset, to damage."""
    return Path(shutil.copytree(learnable_dataset, tmp_path / "dataset"))


@pytest.fixture
def pretrained(trained_act, tmp_path) -> Path:
    """A copy of the trained ACT checkpoint's pretrained_model directory, to damage."""
    return Path(shutil.copytree(trained_act / "checkpoints/last/pretrained_model", tmp_path / "pretrained"))


def _run(main, args: list, capsys) -> str:
    assert main([str(arg) for arg in args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _train(helpers, dataset: Path, output_dir: Path, capsys, **extra) -> str:
    return _run(train_main, helpers.act_train_args(dataset, output_dir, **{"steps": 2, **extra}), capsys)


def test_a_dataset_with_nan_values_is_refused_before_training(helpers, dataset, tmp_path, capsys):
    table = pq.read_table(dataset / DATA_FILE)
    state = np.stack(table.column("observation.state").to_pylist()).astype(np.float32)
    state[5:, 1] = np.nan
    column = pa.FixedSizeListArray.from_arrays(pa.array(state.ravel()), state.shape[1])
    pq.write_table(
        table.set_column(table.column_names.index("observation.state"), "observation.state", column),
        dataset / DATA_FILE,
    )
    assert has_errors(validate_dataset(dataset, decode_videos=False))
    err = _train(helpers, dataset, tmp_path / "run", capsys)
    assert (
        "holds NaN or infinite values: 'observation.state' in 15 frame(s) of episode 0, first at frame 5"
        in err
    )
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_training_stops_at_the_first_non_finite_loss(helpers, learnable_dataset, tmp_path, capsys):
    # A learning rate of 1e30 overflows the weights within a few steps: a run that diverges.
    run = tmp_path / "run"
    err = _train(
        helpers, learnable_dataset, run, capsys, steps=8, save_freq=1, **{"policy.optimizer_lr": 1e30}
    )
    assert "lerobot-ros-train: error: training diverged at step " in err, err
    step = int(err.split("diverged at step ")[1].split(":")[0])
    assert "No checkpoint with these non-finite weights was written" in err
    saved = sorted(p.name for p in (run / "checkpoints").iterdir() if p.name != "last")
    assert saved == [f"{s:06d}" for s in range(1, step)]  # every step before the divergence, none after
    for name in saved:
        weights = load_file(run / "checkpoints" / name / "pretrained_model/model.safetensors")
        assert all(torch.isfinite(tensor).all() for tensor in weights.values())


def test_an_output_dir_that_is_a_file_is_refused(helpers, learnable_dataset, tmp_path, capsys):
    output = tmp_path / "run.txt"
    output.write_text("not a folder")
    err = _train(helpers, learnable_dataset, output, capsys)
    assert f"--output_dir {output} is a file" in err
    assert output.read_text() == "not a folder"


def test_a_truncated_data_file_is_refused(helpers, dataset, tmp_path, capsys):
    data = (dataset / DATA_FILE).read_bytes()
    (dataset / DATA_FILE).write_bytes(data[: len(data) // 2])
    err = _train(helpers, dataset, tmp_path / "run", capsys)
    assert f"{dataset / DATA_FILE} is not a readable parquet file" in err


def test_a_damaged_video_read_by_a_loader_worker_is_reported_without_its_traceback(
    helpers, dataset, tmp_path, capsys
):
    [video] = dataset.glob("videos/*/*/*.mp4")
    video.write_bytes(video.read_bytes()[:1000])
    err = _train(helpers, dataset, tmp_path / "run", capsys, num_workers=1)
    assert f"lerobot-ros-train: error: {video} is not a readable video" in err
    assert "Original" not in err and 'File "' not in err


def test_a_config_file_that_is_not_utf8_is_refused(helpers, learnable_dataset, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_bytes(b"steps: \xff\xfe\n")
    args = [*helpers.act_train_args(learnable_dataset, tmp_path / "run"), f"--config={config}"]
    err = _run(train_main, args, capsys)
    assert f"cannot read config file {config} as UTF-8 text" in err


def _eval(checkpoint: Path, dataset: Path, capsys) -> str:
    return _run(
        eval_main, [f"--checkpoint={checkpoint}", f"--dataset.root={dataset}", "--episodes=5"], capsys
    )


def test_eval_refuses_a_config_json_that_is_not_utf8(pretrained, learnable_dataset, capsys):
    (pretrained / "config.json").write_bytes(b'{"type": "act", "x": "\xff"}')
    err = _eval(pretrained, learnable_dataset, capsys)
    assert f"{pretrained / 'config.json'} is not a JSON text file" in err


class _Payload:
    """Unpickling this would create the marker file: the proof that a pickle was run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_eval_refuses_a_pickle_named_as_a_normalizer_file(pretrained, learnable_dataset, tmp_path, capsys):
    [normalizer] = pretrained.glob("policy_preprocessor_step_*_normalizer_processor.safetensors")
    marker = tmp_path / "pickle-ran"
    normalizer.write_bytes(pickle.dumps(_Payload(marker)))
    err = _eval(pretrained, learnable_dataset, capsys)
    assert f"{normalizer.name} is not a safetensors file" in err and "it was not loaded" in err
    assert not marker.exists()


def test_eval_refuses_a_checkpoint_without_processor_files(pretrained, learnable_dataset, capsys):
    for path in pretrained.glob(PREPROCESSOR_FILES):
        path.unlink()
    err = _eval(pretrained, learnable_dataset, capsys)
    assert f"{pretrained / 'policy_preprocessor.json'} not found" in err


def test_eval_refuses_a_dataset_without_a_feature_the_policy_needs(pretrained, helpers, tmp_path, capsys):
    no_cameras = helpers.write_learnable_dataset(tmp_path / "no_cameras", cameras=False, mapping=False)
    err = _eval(pretrained, no_cameras, capsys)
    assert (
        "policy input features do not match the dataset: 'observation.images.front' is not in the dataset"
        in err
    )


def test_the_undamaged_copy_evaluates(pretrained, learnable_dataset, tmp_path, capsys):
    """The damaged-checkpoint tests above start from a checkpoint that evaluates cleanly."""
    assert (
        eval_main(
            [
                f"--checkpoint={pretrained}",
                f"--dataset.root={learnable_dataset}",
                "--episodes=5",
                f"--output_dir={tmp_path / 'eval'}",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "eval" / "eval_metrics.json").read_text())["episodes"][0]["episode"] == 5
