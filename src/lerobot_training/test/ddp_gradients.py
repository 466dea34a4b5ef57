"""Helper of test_distributed.py (not a test): one training step's gradients on a tiny ACT.

In a process group each process takes its shard of the first global batch from the training sampler and DDP
averages the gradients; in a single process it takes the whole global batch. ``worker`` is one process of a
2-process group set up as torchrun would (environment variables): it writes
``<out>/grads_rank<r>.safetensors`` and then runs two steps of the real CLI (``train_cli.main``);
``cli_worker`` is one process of a 2-process CLI run alone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel

from lerobot_dataset.torch_dataset import LeRobotTorchDataset
from lerobot_training.data import LoaderSettings, delta_timestamps_for, make_train_loader
from lerobot_training.distributed import init_distributed
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors
from lerobot_training.run_state import Precision
from lerobot_training.train import train_step
from lerobot_training.train_cli import main as train_main

# tiny_act_options of conftest, without the VAE (its latent sampling draws different noise per process).
OPTIONS = {
    "pretrained_backbone_weights": None,
    "dim_model": 64,
    "n_heads": 4,
    "dim_feedforward": 128,
    "n_encoder_layers": 2,
    "latent_dim": 8,
    "chunk_size": 8,
    "n_action_steps": 8,
    "dropout": 0.0,
    "use_vae": False,
    "device": "cpu",
}


def gradients(dataset_root: Path, global_batch: int) -> dict[str, torch.Tensor]:
    context = init_distributed("cpu")
    config = make_policy_config("act", **OPTIONS)
    dataset = LeRobotTorchDataset(dataset_root)
    torch.manual_seed(0)
    policy = make_policy(config, dataset.features)
    preprocessor, _ = make_pre_post_processors(config, dataset.stats)
    windows = LeRobotTorchDataset(
        dataset_root, delta_timestamps=delta_timestamps_for(config, list(dataset.features), dataset.fps)
    )
    settings = LoaderSettings(global_batch // context.world_size, 0, 7, context.rank, context.world_size)
    batch = next(iter(make_train_loader(windows, range(windows.reader.num_episodes), 0, None, settings)))
    model = DistributedDataParallel(policy) if context.enabled else policy
    optimizer = config.make_optimizer(policy.get_optim_params())
    train_step(model, preprocessor(batch), optimizer, None, 1e9, Precision(False, "cpu"))
    return {name: p.grad.detach().clone() for name, p in policy.named_parameters() if p.grad is not None}


def cli_args(dataset_root: Path, batch_size: int, **overrides: object) -> list[str]:
    """The CLI's arguments for the tiny ACT of OPTIONS (``overrides``: other policy options)."""
    options = [f"--policy.{key}={value}" for key, value in {**OPTIONS, **overrides}.items()]
    return [
        "--policy.type=act",
        f"--dataset.root={dataset_root}",
        "--log_freq=1",
        "--num_workers=0",
        f"--batch_size={batch_size}",
        *options,
    ]


def join_group(rank: int, world_size: int, port: int) -> None:
    """This process's part of a process group, described as torchrun describes it."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def worker(rank: int, world_size: int, port: int, dataset_root: Path, out: Path, global_batch: int) -> None:
    join_group(rank, world_size, port)
    save_file(gradients(dataset_root, global_batch), str(out / f"grads_rank{rank}.safetensors"))
    args = cli_args(dataset_root, global_batch // world_size)
    sys.exit(train_main([*args, f"--output_dir={out / 'run'}", "--steps=2"]))


def cli_worker(rank: int, world_size: int, port: int, args: list[str]) -> None:
    join_group(rank, world_size, port)
    sys.exit(train_main(args))
