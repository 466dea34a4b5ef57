"""lerobot-ros-eval on a checkpoint trained by test_train's CLI run: per-episode and overall action errors."""

import json

import numpy as np
import pytest
import torch

from lerobot_dataset import DatasetReader
from lerobot_training.checkpoint import load_pretrained
from lerobot_training.eval_cli import main
from lerobot_training.evaluate import EvaluationError, choose_episodes, evaluate


@pytest.fixture(scope="module")
def checkpoint(trained_act):
    return trained_act / "checkpoints" / "last"


def test_eval_prints_and_writes_metrics(checkpoint, learnable_dataset, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        main(
            [
                f"--checkpoint={checkpoint}",
                f"--dataset.root={learnable_dataset}",
                "--holdout=0.3",
                f"--output_dir={out}",
                "--batch_size=16",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    metrics = json.loads((out / "eval_metrics.json").read_text())
    assert [m["episode"] for m in metrics["episodes"]] == [4, 5]
    assert metrics["horizon"] == 8 and all(m["frames"] == 20 for m in metrics["episodes"])
    for line, m in zip(printed.splitlines()[2:4], metrics["episodes"], strict=True):
        assert line.split() == [str(m["episode"]), "20", f"{m['l1']:.5f}", f"{m['mse']:.5f}"]
    assert "overall" in printed and f"{metrics['l1']:.5f}" in printed
    assert (out / "eval_actions_episode_4.png").read_bytes().startswith(b"\x89PNG")


def test_errors_are_in_dataset_units(checkpoint, learnable_dataset):
    """Recompute episode 4's L1 and MSE by hand from the dataset's actions and the policy's predictions."""
    result = evaluate(checkpoint, learnable_dataset, [4], batch_size=7)
    policy, pre, post = load_pretrained(checkpoint)
    with DatasetReader(learnable_dataset) as reader:
        episode = reader.episodes[4]
        frames = [reader.frame(i) for i in range(episode.dataset_from_index, episode.dataset_to_index)]
    actions = np.stack([f["action"] for f in frames])
    errors = []
    for t, frame in enumerate(frames):
        observation = {
            "observation.state": np.array(frame["observation.state"]),
            "observation.images.front": frame["observation.images.front"].transpose(2, 0, 1) / 255.0,
        }
        batch = pre({k: torch.as_tensor(v, dtype=torch.float32) for k, v in observation.items()})
        predicted = post(policy.predict_action_chunk(batch))[0, :8].numpy()
        truth = actions[t : t + 8]
        errors.append(predicted[: len(truth)] - truth)
    errors = np.concatenate(errors)
    assert result.episodes[0].l1 == pytest.approx(np.abs(errors).mean(), rel=1e-5)
    assert result.episodes[0].mse == pytest.approx(np.square(errors).mean(), rel=1e-5)


def test_choose_episodes():
    assert choose_episodes(10, None, 0.2) == [8, 9]
    assert choose_episodes(10, [1, 4], None) == [1, 4]
    with pytest.raises(EvaluationError, match=r"episodes \[12\] are not in this dataset \(0\.\.9\)"):
        choose_episodes(10, [12], None)


def test_bad_checkpoint_exits_2(learnable_dataset, tmp_path, capsys):
    assert main([f"--checkpoint={tmp_path}", f"--dataset.root={learnable_dataset}", "--episodes=1"]) == 2
    assert "holds no config.json" in capsys.readouterr().err
