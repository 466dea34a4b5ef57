"""Two CPU processes on gloo, set up as torchrun sets them up: DDP's averaged gradients equal one process's
on the same global batch, and the training CLI runs unchanged with rank 0 alone writing."""

import importlib.util
import multiprocessing
import socket
from pathlib import Path

import torch
from safetensors.torch import load_file

from lerobot_training.train_log import read_log

GLOBAL_BATCH = 8
# float32 sums in another order (two halves averaged vs one batch): agreement to ~1e-6 relative is expected.
RTOL, ATOL = 1e-4, 1e-6


def load_helper():
    spec = importlib.util.spec_from_file_location(
        "ddp_gradients", Path(__file__).with_name("ddp_gradients.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_gradients_equal_single_process(learnable_dataset, tmp_path):
    helper = load_helper()
    # fork: the children start with torch already imported (spawning fresh interpreters costs ~20 s here).
    context = multiprocessing.get_context("fork")
    port = free_port()
    workers = [
        context.Process(target=helper.worker, args=(rank, 2, port, learnable_dataset, tmp_path, GLOBAL_BATCH))
        for rank in (0, 1)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=180)
    assert [process.exitcode for process in workers] == [0, 0]

    single = helper.gradients(learnable_dataset, GLOBAL_BATCH)
    ranks = [load_file(str(tmp_path / f"grads_rank{rank}.safetensors")) for rank in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() == single.keys()
    for name, grad in single.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # all-reduce leaves every rank the same
        torch.testing.assert_close(ranks[0][name], grad, rtol=RTOL, atol=ATOL, msg=name)

    run = tmp_path / "run"
    assert [row["step"] for row in read_log(run / "train_log.csv")] == [1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000002", "last"]
