"""The training run's parts without a model: options and config files, delta_timestamps, the sampler and
augmentation determinism."""

import numpy as np
import pytest
import torch

from lerobot_training.augmentation import ImageAugmentation
from lerobot_training.data import ShardedEpochSampler, delta_timestamps_for
from lerobot_training.options import OptionError
from lerobot_training.policies import make_policy_config
from lerobot_training.train_cli import resolve_config, user_args
from lerobot_training.train_config import ImageTransformsConfig


def test_config_file_then_command_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "policy: {type: diffusion, horizon: 16, n_action_steps: 8, crop_shape: [40, 56]}\n"
        "dataset: {root: /data/pick, image_transforms: {enable: true}}\nsteps: 500\nbatch_size: 4\n"
    )
    config = resolve_config(["--config", str(path), "--steps=900", "--policy.optimizer_lr=3e-4", "--use_amp"])
    assert (config.steps, config.batch_size, config.use_amp) == (900, 4, True)
    assert config.dataset.root == "/data/pick" and config.dataset.image_transforms.enable is True
    policy = config.policy_config()
    assert (policy.type, policy.horizon, policy.crop_shape, policy.optimizer_lr) == (
        "diffusion",
        16,
        (40, 56),
        3e-4,
    )
    assert user_args(["--steps=3", "--ros-args", "-r", "__node:=x"]) == ["--steps=3"]


def test_values_are_typed_by_their_field():
    config = resolve_config(
        [
            "--policy.type=act",
            "--policy.temporal_ensemble_coeff=null",
            "--policy.n_action_steps=1",
            "--policy.pretrained_backbone_weights=none",
            "--dataset.episodes=[1, 3]",
            "--resume=false",
        ]
    )
    assert config.dataset.episodes == [1, 3] and config.resume is False
    assert config.policy_config().pretrained_backbone_weights is None
    with pytest.raises(OptionError, match="option 'resume' is true or false, got 'maybe'"):
        resolve_config(["--policy.type=act", "--resume=maybe"])
    with pytest.raises(OptionError, match=r"choose a policy: --policy.type=act\|diffusion"):
        resolve_config(["--steps=3"]).policy_config()


def test_delta_timestamps_follow_the_policy_and_fps():
    features = ["observation.state", "observation.images.front", "action", "timestamp"]
    act = make_policy_config("act", chunk_size=4, n_action_steps=4, device="cpu")
    assert delta_timestamps_for(act, features, 10) == {"action": [0.0, 0.1, 0.2, 0.3]}
    diffusion = make_policy_config("diffusion", n_obs_steps=2, horizon=8, n_action_steps=4, device="cpu")
    deltas = delta_timestamps_for(diffusion, features, 20)
    assert deltas["observation.state"] == deltas["observation.images.front"] == [-0.05, 0.0]
    assert deltas["action"] == pytest.approx([i / 20 for i in range(-1, 7)])
    assert "timestamp" not in deltas


def take(sampler, count):
    iterator = iter(sampler)
    return [next(iterator) for _ in range(count)]


def test_sampler_shards_epochs_and_resumes_mid_stream():
    positions = np.arange(10) * 3
    single = take(ShardedEpochSampler(positions, seed=5), 20)
    assert sorted(p for p, _ in single[:10]) == list(positions)  # an epoch is a permutation
    assert [p for p, _ in single[:10]] != [p for p, _ in single[10:]]  # reshuffled each epoch
    ranks = [take(ShardedEpochSampler(positions, seed=5, rank=r, world_size=2), 5) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == sorted(single[:10])  # the two shards are one epoch
    assert single[0] == ranks[0][0] and single[1] == ranks[1][0]  # global batch k = the ranks' batch k
    assert take(ShardedEpochSampler(positions, seed=5, start=7), 13) == single[7:]


def test_sample_seeds_make_augmentation_independent_of_the_process():
    augment = ImageAugmentation(ImageTransformsConfig(enable=True))
    image = torch.rand(2, 3, 12, 16)
    results = []
    for _ in range(2):
        torch.manual_seed(1234)
        results.append(augment(image))
        torch.rand(5)  # the process's own draws in between do not matter once the sample is seeded
    assert torch.equal(results[0], results[1])
    assert not torch.equal(results[0], image) and results[0].min() >= 0 and results[0].max() <= 1
    torch.manual_seed(99)
    assert not torch.equal(augment(image), results[0])


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_is_a_bar_on_a_terminal_and_a_line_per_log_step_in_a_log_file(
    tmp_path, capfd, monkeypatch, terminal
):
    import sys

    from lerobot_training.train_log import TrainLogger

    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    log = TrainLogger(tmp_path, total_steps=100, start_step=0, enabled=True)
    values = dict(loss=0.5, lr=1e-4, grad_norm=1.0, samples_per_s=12.0, data_s=0.1, update_s=0.2)
    for step in range(1, 101):
        log.step()
        if step % 25 == 0:
            log.log(step, values)
    log.close()
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("step ")]
    if terminal:
        assert lines == [] and "\r" in err  # tqdm redraws one line
    else:
        assert "\r" not in err  # no redraws flooding a log file or CI
        assert [line.split(":")[0] for line in lines] == [f"step {s}/100 ({s}%)" for s in (25, 50, 75, 100)]
        assert "loss 0.5000, lr 1.00e-04, 12.0 samples/s" in lines[0] and lines[-1].endswith("0m00s left")
