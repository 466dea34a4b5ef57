"""Shared helpers of lerobot_training's tests: reference files, synthetic datasets, tiny policy configs.

Tests get them through the ``helpers`` fixture (with --import-mode=importlib a conftest is not importable).
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

REFERENCE_DIR = Path(__file__).parent / "reference"
DEFAULT_FEATURES = ("timestamp", "frame_index", "episode_index", "index", "task_index")
ALL_STATS = ("min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99")


@pytest.fixture(autouse=True)
def _modest_and_seeded() -> None:
    # One thread: the cores are shared with other work, and contended OpenMP threads slow ACT down ~10×.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)


def read_tsv(name: str) -> list[list[str]]:
    """Rows of a reference TSV, comment lines skipped."""
    lines = (REFERENCE_DIR / name).read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def parse_shape(text: str) -> tuple[int, ...]:
    """'(512, 6)' → (512, 6); '()' → ()."""
    inner = text.strip().strip("()").strip()
    return tuple(int(part) for part in inner.split(",") if part.strip())


def dataset_features(
    state_dim: int = 6, action_dim: int = 6, cameras: dict[str, tuple[int, int]] | None = None
) -> dict[str, dict[str, Any]]:
    """An info.json ``features`` block: state, cameras (height, width) as videos, action and the defaults."""
    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": [state_dim], "names": None}
    }
    for name, (height, width) in (cameras if cameras is not None else {"front": (96, 128)}).items():
        features[f"observation.images.{name}"] = {
            "dtype": "video",
            "shape": [height, width, 3],
            "names": ["height", "width", "channels"],
        }
    features["action"] = {"dtype": "float32", "shape": [action_dim], "names": None}
    for name in DEFAULT_FEATURES:
        features[name] = {"dtype": "float32" if name == "timestamp" else "int64", "shape": [1], "names": None}
    return features


def dataset_stats(features: dict[str, dict[str, Any]], seed: int = 0) -> dict[str, dict[str, Any]]:
    """meta/stats.json content with every statistic lerobot computes; cameras per channel, shape (3, 1, 1)."""
    rng = np.random.default_rng(seed)
    stats = {}
    for name, spec in features.items():
        camera = spec["dtype"] in ("image", "video")
        dim = 3 if camera else spec["shape"][0]

        def vector(low: float, high: float, dim: int = dim, camera: bool = camera) -> list:
            values = rng.uniform(low, high, size=dim)
            return values.reshape(3, 1, 1).tolist() if camera else values.tolist()

        low, high = vector(-2.0, -1.0), vector(1.0, 2.0)
        stats[name] = {
            "min": low,
            "max": high,
            "mean": vector(-0.2, 0.2),
            "std": vector(0.5, 1.5),
            "count": [1000],
            "q01": vector(-1.0, -0.9),
            "q10": vector(-0.6, -0.5),
            "q50": vector(-0.1, 0.1),
            "q90": vector(0.5, 0.6),
            "q99": vector(0.9, 1.0),
        }
    return stats


def tiny_act_options(**overrides: Any) -> dict[str, Any]:
    """ACT small enough to train in seconds on a CPU (the ResNet-18 backbone stays, randomly initialised:
    these machines are offline and cannot download lerobot's default ImageNet weights)."""
    options = {
        "pretrained_backbone_weights": None,
        "dim_model": 64,
        "n_heads": 4,
        "dim_feedforward": 128,
        "n_encoder_layers": 2,
        "n_vae_encoder_layers": 2,
        "latent_dim": 8,
        "chunk_size": 8,
        "n_action_steps": 8,
        "dropout": 0.0,
        "optimizer_lr": 1e-3,
        "optimizer_lr_backbone": 1e-4,
    }
    return {**options, **overrides}


def tiny_diffusion_options(**overrides: Any) -> dict[str, Any]:
    """Diffusion Policy small enough to train in seconds on a CPU (the ResNet-18 backbone stays, randomly
    initialised as in tiny_act_options)."""
    options = {
        "pretrained_backbone_weights": None,
        "horizon": 8,
        "n_action_steps": 4,
        "down_dims": (32, 64),
        "n_groups": 8,
        "kernel_size": 3,
        "diffusion_step_embed_dim": 32,
        "spatial_softmax_num_keypoints": 8,
        "optimizer_lr": 1e-3,
        "scheduler_warmup_steps": 2,
    }
    return {**options, **overrides}


TINY_CAMERAS = {"front": (16, 16)}  # ResNet-18 reduces it to one feature-map pixel: cheap


def act_batch(
    batch_size: int,
    chunk_size: int,
    state_dim: int = 6,
    action_dim: int = 6,
    image_size: tuple[int, int] = (16, 16),
) -> dict[str, torch.Tensor]:
    """A normalized ACT training batch: action chunk = a fixed linear function of the state (learnable)."""
    state = torch.rand(batch_size, state_dim) * 2 - 1
    steps = torch.linspace(0.0, 1.0, chunk_size).view(1, chunk_size, 1)
    actions = state[:, None, :action_dim] * (1 - steps) - state[:, None, :action_dim].flip(-1) * steps
    return {
        "observation.state": state,
        "observation.images.front": torch.rand(batch_size, 3, *image_size),
        "action": actions,
        "action_is_pad": torch.zeros(batch_size, chunk_size, dtype=torch.bool),
    }


def diffusion_batch(
    batch_size: int,
    n_obs_steps: int,
    horizon: int,
    state_dim: int = 6,
    action_dim: int = 6,
    image_size: tuple[int, int] = (16, 16),
) -> dict[str, torch.Tensor]:
    """A normalized Diffusion training batch with observation history; actions depend on the latest state."""
    state = torch.rand(batch_size, n_obs_steps, state_dim) * 2 - 1
    current = state[:, -1, :action_dim]
    steps = torch.linspace(0.0, 1.0, horizon).view(1, horizon, 1)
    actions = 0.8 * (current[:, None] * (1 - steps) - current[:, None].flip(-1) * steps)
    return {
        "observation.state": state,
        "observation.images.front": torch.rand(batch_size, n_obs_steps, 3, *image_size),
        "action": actions,
        "action_is_pad": torch.zeros(batch_size, horizon, dtype=torch.bool),
    }


def write_learnable_dataset(
    root: Path, episodes: int = 6, length: int = 20, cameras: bool = True, mapping: bool = True
) -> Path:
    """A dataset (fps 10, state 4, action 4, one 48×64 camera) whose actions follow from the state:
    state_t = s_e + 0.05·t·d and action_t = state_(t+1), so every action chunk is a function of the current
    state; the camera's colour follows the state too. With ``mapping``, a suite mapping file in meta/."""
    from lerobot_dataset import DatasetWriter

    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": [4], "names": None}
    }
    if cameras:
        features["observation.images.front"] = {
            "dtype": "video",
            "shape": [48, 64, 3],
            "names": ["height", "width", "channels"],
        }
    features["action"] = {"dtype": "float32", "shape": [4], "names": None}
    rng = np.random.default_rng(0)
    direction = np.array([1.0, -0.5, 0.25, -1.0], dtype=np.float32)
    with DatasetWriter.create(root, fps=10, features=features) as writer:
        for _ in range(episodes):
            start = rng.uniform(-1, 1, 4).astype(np.float32)
            for t in range(length):
                state = start + 0.05 * t * direction
                frame = {"observation.state": state, "action": state + 0.05 * direction}
                if cameras:
                    colour = np.clip((state[:3] + 2) * 60, 0, 255).astype(np.uint8)
                    frame["observation.images.front"] = np.broadcast_to(colour, (48, 64, 3)).copy()
                writer.add_frame(frame, task="follow the line")
            writer.save_episode()
    if mapping:
        (root / "meta" / "lerobot_ros").mkdir(parents=True, exist_ok=True)
        (root / "meta" / "lerobot_ros" / "mapping.yaml").write_text("# the recording's topic mapping\n")
    return root


@pytest.fixture(scope="session")
def learnable_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written once per session (video encoding is the slow part); tests must not modify it."""
    return write_learnable_dataset(tmp_path_factory.mktemp("learnable") / "dataset")


def act_train_args(dataset: Path, output_dir: Path, **extra: Any) -> list[str]:
    """lerobot-ros-train arguments for a tiny ACT on CPU; ``extra`` maps option names to values."""
    options: dict[str, Any] = {f"policy.{key}": value for key, value in tiny_act_options().items()}
    options.update({"policy.type": "act", "policy.device": "cpu", "dataset.root": dataset})
    options.update({"output_dir": output_dir, "num_workers": 0, "log_freq": 1, "batch_size": 8})
    options.update(extra)
    return [f"--{key}={value}" for key, value in options.items()]


@pytest.fixture(scope="session")
def trained_act(learnable_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output directory of a 24-step ACT run through the CLI on episodes 0-3 (4 and 5 are held out), with
    augmentation and a loader worker process. Tests must not modify it."""
    from lerobot_training.train_cli import main

    torch.set_num_threads(1)
    output_dir = tmp_path_factory.mktemp("act_run") / "run"
    extra = {"dataset.image_transforms.enable": "true", "dataset.episodes": "[0,1,2,3]"}
    args = act_train_args(learnable_dataset, output_dir, steps=24, save_freq=12, num_workers=1, **extra)
    assert main(args) == 0
    return output_dir


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    return SimpleNamespace(
        REFERENCE_DIR=REFERENCE_DIR,
        TINY_CAMERAS=TINY_CAMERAS,
        read_tsv=read_tsv,
        parse_shape=parse_shape,
        dataset_features=dataset_features,
        dataset_stats=dataset_stats,
        tiny_act_options=tiny_act_options,
        tiny_diffusion_options=tiny_diffusion_options,
        act_batch=act_batch,
        diffusion_batch=diffusion_batch,
        write_learnable_dataset=write_learnable_dataset,
        act_train_args=act_train_args,
    )
