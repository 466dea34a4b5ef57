"""Two CPU processes on gloo, set up as torchrun sets them up: DDP's averaged gradients equal one process's
on the same global batch, and the training CLI runs unchanged with rank 0 alone writing."""

import multiprocessing
import socket
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from lerobot_training.checkpoint import load_training_state, save_training_state
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors
from lerobot_training.run_state import RunState
from lerobot_training.train_log import read_log

# The workers' module must be importable by name in the fork server, which starts with this sys.path.
sys.path.insert(0, str(Path(__file__).parent))
import ddp_gradients

GLOBAL_BATCH = 8
# float32 sums in another order (two halves averaged vs one batch): agreement to ~1e-6 relative is expected.
RTOL, ATOL = 1e-4, 1e-6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_processes(target, *args) -> None:
    """``target(rank, 2, port, *args)`` in two processes of one group; both must exit with status 0."""
    # A fork server, not fork: forking this multi-threaded process (DDS, loader and tqdm threads of earlier
    # tests) copies locks other threads held; two workers once spun for minutes. The server imports torch
    # once for every group of the session (spawning each worker would cost ~20 s here).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ddp_gradients"])
    port = free_port()
    workers = [context.Process(target=target, args=(rank, 2, port, *args)) for rank in (0, 1)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=180)
    assert [process.exitcode for process in workers] == [0, 0]


def test_two_process_gradients_equal_single_process(learnable_dataset, tmp_path):
    run_two_processes(ddp_gradients.worker, learnable_dataset, tmp_path, GLOBAL_BATCH)

    single = ddp_gradients.gradients(learnable_dataset, GLOBAL_BATCH)
    ranks = [load_file(str(tmp_path / f"grads_rank{rank}.safetensors")) for rank in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() == single.keys()
    for name, grad in single.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # all-reduce leaves every rank the same
        torch.testing.assert_close(ranks[0][name], grad, rtol=RTOL, atol=ATOL, msg=name)

    run = tmp_path / "run"
    assert [row["step"] for row in read_log(run / "train_log.csv")] == [1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000002", "last"]


def test_two_process_resume_continues_the_same_trajectory(learnable_dataset, tmp_path):
    # Dropout and the VAE's sampling draw other noise on each rank: each must resume its own RNG streams.
    args = ddp_gradients.cli_args(learnable_dataset, batch_size=2, dropout=0.1, use_vae=True)
    whole, split = tmp_path / "whole", tmp_path / "split"
    cli = ddp_gradients.cli_worker
    run_two_processes(cli, [*args, f"--output_dir={whole}", "--steps=4", "--save_freq=2"])
    run_two_processes(cli, [*args, f"--output_dir={split}", "--steps=2"])
    run_two_processes(cli, [f"--output_dir={split}", "--resume=true", "--steps=4"])

    state = split / "checkpoints" / "000002" / "training_state"
    assert (state / "rng_state.safetensors").is_file() and (state / "rng_state_rank1.safetensors").is_file()

    def trajectory(run):
        return [(row["step"], row["loss"]) for row in read_log(run / "train_log.csv")]

    assert [step for step, _ in trajectory(split)] == [1, 2, 3, 4]
    assert trajectory(split) == trajectory(whole)
    weights = [load_file(d / "checkpoints/last/pretrained_model/model.safetensors") for d in (whole, split)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_rank_without_saved_rng_state_draws_its_own_noise(helpers, tmp_path, caplog):
    # A checkpoint of fewer processes: the extra rank continues, with streams apart from rank 0's.
    features = helpers.dataset_features(cameras=helpers.TINY_CAMERAS)
    config = make_policy_config("act", **helpers.tiny_act_options())
    policy = make_policy(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, helpers.dataset_stats(features))
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.1)
    run = RunState(
        policy=policy,
        preprocessor=preprocessor,
        postprocessor=postprocessor,
        optimizer=optimizer,
        output_dir=tmp_path,
        total_steps=3,
        step=3,
    )
    save_training_state(tmp_path, run)
    draws = []
    for rank in (0, 1):
        torch.manual_seed(rank)
        run.step = 0
        load_training_state(tmp_path, run, rank=rank)
        assert run.step == 3
        draws.append(torch.rand(4))
    assert not torch.equal(draws[0], draws[1])
    assert "lacks rng_state_rank1.safetensors" in caplog.text
