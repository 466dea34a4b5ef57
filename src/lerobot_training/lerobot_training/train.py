"""The training loop: a policy from the registry trained on a LeRobot dataset, with lerobot's checkpoints.

Run by ``lerobot-ros-train`` (see train_cli) in one process, or under ``torchrun`` in many: each process
reads its own share of every epoch, DistributedDataParallel averages the gradients, rank 0 logs and saves.
A run starts from random weights, from a pretrained checkpoint (``--policy.path``: fine-tuning) or from its
own last checkpoint (``--resume``).
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from lerobot_dataset import DatasetReader
from lerobot_dataset.mapping import DATASET_MAPPING_FILE
from lerobot_dataset.torch_dataset import LeRobotTorchDataset
from lerobot_training.augmentation import ImageAugmentation
from lerobot_training.checkpoint import (
    CHECKPOINT_MAPPING_NAME,
    CHECKPOINTS_DIR,
    LAST_CHECKPOINT_LINK,
    PRETRAINED_MODEL_DIR,
    WEIGHTS_NAME,
    fit_pretrained_features,
    load_training_state,
    load_weights,
    make_finetune_processors,
    make_pretrained_policy,
    rng_state_bytes,
    save_checkpoint,
)
from lerobot_training.data import LoaderSettings, delta_timestamps_for, make_train_loader
from lerobot_training.distributed import (
    DistributedContext,
    all_gather_bytes,
    barrier,
    close_distributed,
    init_distributed,
    mean_across,
)
from lerobot_training.policies import make_policy, make_pre_post_processors
from lerobot_training.policies.base import PolicyConfig
from lerobot_training.run_state import Precision, RunState
from lerobot_training.train_config import TrainConfig, output_dir_for
from lerobot_training.train_log import TrainLogger

logger = logging.getLogger(__name__)


class TrainingError(ValueError):
    """The run cannot start as configured (missing dataset, occupied output directory, nothing to resume)."""


@dataclass
class TrainResult:
    steps: int
    final_loss: float
    checkpoint: Path | None  # the last step directory written (None when checkpoints are off)
    output_dir: Path


def train_step(
    model: torch.nn.Module,
    batch: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    grad_clip_norm: float,
    precision: Precision,
) -> tuple[float, float]:
    """One update on a preprocessed batch: (loss, gradient norm before clipping). Gradients stay in ``.grad``
    until the next step (they are cleared before the backward pass, not after)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        loss, _ = model(batch)
    if precision.scaler is not None:
        precision.scaler.scale(loss).backward()
        precision.scaler.unscale_(optimizer)
    else:
        loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip_norm)
    if precision.scaler is not None:
        precision.scaler.step(optimizer)
        precision.scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.item(), grad_norm.item()


def grad_clip_norm_for(config: TrainConfig, policy_config: PolicyConfig) -> float:
    """The policy's own preset (lerobot's ``optimizer_grad_clip_norm``, π₀: 1.0) when its config has one
    (set it with --policy.optimizer_grad_clip_norm), else --grad_clip_norm."""
    preset = policy_config.optimizer_grad_clip_norm
    return float(config.grad_clip_norm if preset is None else preset)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def open_dataset(root: str | None) -> DatasetReader:
    if root is None:
        raise TrainingError("set --dataset.root to a LeRobot dataset folder (the one holding meta/info.json)")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise TrainingError(f"dataset root {path} does not exist; pass the folder holding meta/info.json")
    if not (path / "meta" / "info.json").is_file():
        raise TrainingError(
            f"{path} is not a LeRobot dataset (no meta/info.json); convert recordings with "
            "lerobot-ros-convert or point --dataset.root at the dataset folder"
        )
    return DatasetReader(path)


def training_episodes(chosen: list[int] | None, reader: DatasetReader) -> list[int]:
    """The episodes ``--dataset.episodes`` names (all by default), each checked to exist."""
    episodes = list(range(reader.num_episodes) if chosen is None else chosen)
    unknown = [e for e in episodes if not 0 <= e < reader.num_episodes]
    if unknown:
        raise TrainingError(
            f"--dataset.episodes names {unknown}, which the dataset lacks (0..{reader.num_episodes - 1})"
        )
    return episodes


def check_output_dir(output_dir: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from (None for a fresh run); refuse to overwrite a previous run."""
    last = output_dir / CHECKPOINTS_DIR / LAST_CHECKPOINT_LINK
    if output_dir.exists() and not output_dir.is_dir():
        raise TrainingError(f"--output_dir {output_dir} is a file; choose a folder for the run's outputs")
    if resume:
        if not last.is_dir():
            raise TrainingError(f"--resume=true but {last} does not exist: nothing to resume in {output_dir}")
        return last.resolve()
    if output_dir.exists() and any(output_dir.iterdir()):
        raise TrainingError(
            f"output directory {output_dir} already holds a run; pass --resume=true to continue it or choose "
            "another --output_dir"
        )
    return None


def choose_device(config: PolicyConfig, context: DistributedContext) -> torch.device:
    device = torch.device(config.device)
    if device.type == "cuda" and context.enabled:
        device = torch.device("cuda", context.local_rank)
        config.device = str(device)
    return device


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume) the run ``config`` describes; returns where it ended."""
    output_dir = output_dir_for(config)
    reader = open_dataset(config.dataset.root)
    episodes = training_episodes(config.dataset.episodes, reader)
    reader.check_finite(episodes)  # one NaN in a batch makes every weight NaN
    policy_config, pretrained_dir = config.resolve_policy()
    resume_from = check_output_dir(output_dir, config.resume)
    context = init_distributed(torch.device(policy_config.device).type)
    barrier(context)  # every rank checks the output directory before rank 0 writes to it
    try:
        return _train(
            config, policy_config, pretrained_dir, reader, episodes, output_dir, resume_from, context
        )
    finally:
        close_distributed(context)


def _train(
    config: TrainConfig,
    policy_config: PolicyConfig,
    pretrained_dir: Path | None,
    reader: DatasetReader,
    episodes: list[int],
    output_dir: Path,
    resume_from: Path | None,
    context: DistributedContext,
) -> TrainResult:
    device = choose_device(policy_config, context)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    use_amp = config.use_amp or policy_config.use_amp
    precision = Precision.choose(use_amp, device)
    policy_config.use_amp = precision.enabled
    seed_everything(config.seed)
    notes: list[str] = []
    if pretrained_dir is None:
        policy = make_policy(policy_config, reader.features)
        preprocessor, postprocessor = make_pre_post_processors(policy_config, reader.stats)
    else:
        source = str(policy_config.pretrained_path)
        notes = [f"fine-tuning {source}" + ("" if source == str(pretrained_dir) else f" ({pretrained_dir})")]
        notes += fit_pretrained_features(policy_config, reader.features)
        policy = make_pretrained_policy(policy_config, pretrained_dir)
        trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
        notes.append(f"trainable: {trainable / 1e6:.2f} M parameters (use_peft={policy_config.use_peft})")
        preprocessor, postprocessor, processor_notes = make_finetune_processors(
            policy_config, reader.stats, pretrained_dir
        )
        notes += processor_notes
    optimizer = policy_config.make_optimizer(policy.get_optim_params())
    run = RunState(
        policy=policy,
        preprocessor=preprocessor,
        postprocessor=postprocessor,
        optimizer=optimizer,
        scheduler=policy_config.make_scheduler(optimizer, config.steps),
        precision=precision,
        output_dir=output_dir,
        total_steps=config.steps,
        train_config={**config.to_dict(), "policy": policy_config.to_dict(), "resume": False},
    )
    if resume_from is not None:
        load_weights(policy, resume_from / PRETRAINED_MODEL_DIR / WEIGHTS_NAME)
        load_training_state(resume_from, run, context.rank)
    elif context.enabled:
        torch.manual_seed(config.seed + context.rank)  # ranks share the initial weights, not their noise
    if run.step >= config.steps:
        raise TrainingError(
            f"the checkpoint is at step {run.step} and --steps={config.steps}: raise --steps to train further"
        )
    model: torch.nn.Module = policy
    if context.enabled:
        model = DistributedDataParallel(policy, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = LeRobotTorchDataset(
        reader.root,
        delta_timestamps=delta_timestamps_for(policy_config, list(reader.features), reader.fps),
        episodes=episodes,
        cameras=list(policy_config.image_features),  # the dataset's other cameras are never decoded
        image_sizes=policy_config.image_sizes,
    )
    augmentation = (
        ImageAugmentation(config.dataset.image_transforms) if config.dataset.image_transforms.enable else None
    )
    settings = LoaderSettings(
        config.batch_size,
        config.num_workers,
        config.seed,
        context.rank,
        context.world_size,
        run.step,
        pin_memory=device.type == "cuda",
    )
    loader = make_train_loader(dataset, episodes, policy_config.drop_n_last_frames, augmentation, settings)
    log = TrainLogger(output_dir, config.steps, run.step, context.is_main)
    log.write("\n".join([_summary(run, dataset, device, context, use_amp), *notes]))
    try:
        final_loss, checkpoint = _loop(config, run, model, iter(loader), context, device, log, reader.root)
    finally:
        log.close()
    return TrainResult(config.steps, final_loss, checkpoint, output_dir)


def _loop(
    config: TrainConfig,
    run: RunState,
    model: torch.nn.Module,
    batches: Iterator[dict[str, Any]],
    context: DistributedContext,
    device: torch.device,
    log: TrainLogger,
    dataset_root: Path,
) -> tuple[float, Path | None]:
    """Train ``run`` (``model``: its policy, or the policy's DistributedDataParallel wrapper) from its step to
    ``config.steps``: (the last loss, the last checkpoint written)."""
    checkpoint = None
    loss = float("nan")
    losses: list[float] = []
    grad_norms: list[float] = []
    data_s = update_s = 0.0
    window_start = time.perf_counter()
    for step in range(run.step + 1, config.steps + 1):
        started = time.perf_counter()
        batch = next(batches)
        fetched = time.perf_counter()
        loss, grad_norm = train_step(
            model,
            run.preprocessor(batch),
            run.optimizer,
            run.scheduler,
            grad_clip_norm_for(config, run.policy.config),
            run.precision,
        )
        if not math.isfinite(loss) or (run.precision.scaler is None and not math.isfinite(grad_norm)):
            # The update is done: the weights may already be NaN, so nothing more may be saved.
            last = f"the last one is {checkpoint}" if checkpoint else "this run saved none before it"
            raise TrainingError(
                f"training diverged at step {step}: the loss is {loss} and the gradient norm {grad_norm}. No "
                f"checkpoint with these non-finite weights was written ({last}). Lower the learning rate "
                "(--policy.optimizer_lr), clip gradients (--grad_clip_norm) or check the dataset with "
                "`lerobot-ros-dataset validate`"
            )
        run.step = step
        losses.append(loss)
        grad_norms.append(grad_norm)
        data_s += fetched - started
        update_s += time.perf_counter() - fetched
        log.step()
        if step % config.log_freq == 0 or step == config.steps:
            elapsed = time.perf_counter() - window_start
            count = len(losses)
            log.log(
                step,
                {
                    "loss": mean_across(float(np.mean(losses)), context, device),
                    "lr": run.optimizer.param_groups[0]["lr"],
                    "grad_norm": float(np.mean(grad_norms)),
                    "samples_per_s": count * config.batch_size * context.world_size / elapsed,
                    "data_s": data_s / count,
                    "update_s": update_s / count,
                },
            )
            losses, grad_norms, data_s, update_s = [], [], 0.0, 0.0
            window_start = time.perf_counter()
        if config.save_checkpoint and (step % config.save_freq == 0 or step == config.steps):
            # Every rank's RNG (its own dropout and noise draws) goes into rank 0's checkpoint.
            rng_states = all_gather_bytes(rng_state_bytes(), context, device)
            if context.is_main:
                checkpoint = save_checkpoint(run, rng_states)
                copy_mapping(dataset_root, checkpoint / PRETRAINED_MODEL_DIR)
                log.plot()
                log.write(f"step {step}: checkpoint {checkpoint}")
            barrier(context)
    log.plot()
    return loss, checkpoint


def copy_mapping(dataset_root: Path, pretrained_dir: Path) -> None:
    """Keep the dataset's topic ↔ feature mapping with the model, so a deployment can check its topics."""
    source = dataset_root / DATASET_MAPPING_FILE
    if source.is_file():
        shutil.copyfile(source, pretrained_dir / CHECKPOINT_MAPPING_NAME)


def _summary(
    run: RunState,
    dataset: LeRobotTorchDataset,
    device: torch.device,
    context: DistributedContext,
    use_amp: bool,
) -> str:
    params = sum(p.numel() for p in run.policy.parameters())
    precision = run.precision
    lines = [
        f"{run.policy.config.type}: {params / 1e6:.2f} M parameters on {device}"
        + (f", {context.world_size} processes" if context.enabled else ""),
        f"dataset: {len(dataset)} frames, fps {dataset.fps}"
        + (f"; resuming at step {run.step}" if run.step else ""),
    ]
    if use_amp and not precision.enabled:
        lines.append(f"--use_amp is ignored on {device.type}: mixed precision needs a CUDA device")
    elif precision.enabled:
        lines.append(f"mixed precision: {str(precision.dtype).removeprefix('torch.')}")
    return "\n".join(lines)
