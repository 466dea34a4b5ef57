"""Offline evaluation of a checkpoint: on held-out episodes, how far the actions the policy would execute from
each frame are from the recorded ones (L1 and MSE in the dataset's units), per episode and overall."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lerobot_dataset import DatasetReader
from lerobot_dataset.torch_dataset import LeRobotTorchDataset
from lerobot_training.checkpoint import load_pretrained
from lerobot_training.data import delta_timestamps_for
from lerobot_training.features import (
    ACTION,
    ACTION_IS_PAD,
    check_features_in_dataset,
    dataset_to_policy_features,
)

METRICS_NAME = "eval_metrics.json"
PLOT_NAME = "eval_actions_episode_{episode}.png"


class EvaluationError(ValueError):
    """The episodes to evaluate cannot be chosen (unknown indices, nothing held out)."""


@dataclass
class EpisodeMetrics:
    episode: int
    frames: int
    l1: float
    mse: float
    l1_per_dim: list[float] = field(default_factory=list)


@dataclass
class EvalResult:
    checkpoint: str
    horizon: int  # actions compared per frame: the policy's n_action_steps
    episodes: list[EpisodeMetrics]
    l1: float
    mse: float
    metrics_path: Path | None = None
    plot_path: Path | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["metrics_path"] = str(self.metrics_path) if self.metrics_path else None
        out["plot_path"] = str(self.plot_path) if self.plot_path else None
        return out

    def table(self) -> str:
        lines = [f"{'episode':>8} {'frames':>7} {'L1':>10} {'MSE':>10}"]
        lines += [f"{m.episode:>8} {m.frames:>7} {m.l1:>10.5f} {m.mse:>10.5f}" for m in self.episodes]
        frames = sum(m.frames for m in self.episodes)
        lines.append(f"{'overall':>8} {frames:>7} {self.l1:>10.5f} {self.mse:>10.5f}")
        return "\n".join(lines)


def choose_episodes(num_episodes: int, episodes: Sequence[int] | None, holdout: float | None) -> list[int]:
    """The given episode indices, or the last ``ceil(holdout · num_episodes)`` ones."""
    if episodes:
        bad = [e for e in episodes if not 0 <= e < num_episodes]
        if bad:
            raise EvaluationError(f"episodes {bad} are not in this dataset (0..{num_episodes - 1})")
        return list(episodes)
    if holdout is None or not 0 < holdout < 1:
        raise EvaluationError(
            f"choose episodes with --episodes 8,9 or a fraction with --holdout 0.2, got {holdout}"
        )
    count = max(1, math.ceil(holdout * num_episodes))
    return list(range(num_episodes - count, num_episodes))


@torch.no_grad()
def evaluate(
    checkpoint: str | Path,
    dataset_root: str | Path,
    episodes: Sequence[int],
    output_dir: str | Path | None = None,
    batch_size: int = 32,
    device: str | None = None,
    num_workers: int = 0,
    seed: int = 0,
) -> EvalResult:
    """Metrics of ``checkpoint`` on ``episodes`` of the dataset; with ``output_dir``, also the JSON and a PNG
    of predicted vs recorded actions for the first episode."""
    policy, preprocessor, postprocessor = load_pretrained(checkpoint, device=device)
    config = policy.config
    horizon = config.n_action_steps
    with DatasetReader(dataset_root) as reader:
        features, fps = list(reader.features), reader.fps
        available = dataset_to_policy_features(reader.features)
    check_features_in_dataset(config.input_features, available, "input")
    check_features_in_dataset(config.output_features, available, "output")
    deltas = delta_timestamps_for(config, features, fps) or {}
    deltas[ACTION] = [i / fps for i in range(horizon)]  # what the robot would execute from this frame
    inputs = list(config.input_features)
    torch.manual_seed(seed)  # diffusion samples noise: same seed, same metrics
    per_episode = []
    plotted: tuple[int, np.ndarray, np.ndarray] | None = None
    for episode in episodes:
        dataset = LeRobotTorchDataset(
            dataset_root,
            delta_timestamps=deltas,
            episodes=[episode],
            cameras=list(config.image_features),
            image_sizes=config.image_sizes,
        )
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
        abs_sum = sq_sum = None
        count = 0
        predicted, recorded = [], []
        for batch in loader:
            observation = preprocessor({key: batch[key] for key in inputs})
            actions = postprocessor(policy.predict_action_chunk(observation))[:, :horizon].cpu().double()
            truth = batch[ACTION].double()
            mask = (~batch[ACTION_IS_PAD]).unsqueeze(-1).double()
            error = (actions - truth) * mask
            abs_sum = error.abs().sum((0, 1)) + (0 if abs_sum is None else abs_sum)
            sq_sum = error.square().sum((0, 1)) + (0 if sq_sum is None else sq_sum)
            count += int(mask.sum())
            predicted.append(actions[:, 0])
            recorded.append(truth[:, 0])
        per_dim = (abs_sum / count).tolist()
        per_episode.append(
            EpisodeMetrics(
                episode,
                len(dataset),
                float(abs_sum.sum() / (count * len(per_dim))),
                float(sq_sum.sum() / (count * len(per_dim))),
                per_dim,
            )
        )
        if plotted is None:
            plotted = (episode, torch.cat(predicted).numpy(), torch.cat(recorded).numpy())
    frames = np.array([m.frames for m in per_episode], dtype=float)
    result = EvalResult(
        checkpoint=str(checkpoint),
        horizon=horizon,
        episodes=per_episode,
        l1=float(np.average([m.l1 for m in per_episode], weights=frames)),
        mse=float(np.average([m.mse for m in per_episode], weights=frames)),
    )
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        if plotted is not None:
            result.plot_path = plot_actions(output_dir / PLOT_NAME.format(episode=plotted[0]), *plotted)
        result.metrics_path = output_dir / METRICS_NAME
        result.metrics_path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def plot_actions(path: Path, episode: int, predicted: np.ndarray, recorded: np.ndarray) -> Path:
    """One panel per action dimension: the recorded action and the policy's first predicted action."""
    dims = predicted.shape[1]
    columns = min(3, dims)
    rows = math.ceil(dims / columns)
    figure = Figure(figsize=(4 * columns, 2.5 * rows), tight_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    frames = np.arange(len(predicted))
    for dim in range(dims):
        axes[dim].plot(frames, recorded[:, dim], label="recorded", color="black")
        axes[dim].plot(frames, predicted[:, dim], label="predicted", color="tab:red", linestyle="--")
        axes[dim].set_title(f"action[{dim}]")
        axes[dim].set_xlabel("frame")
    for extra in axes[dims:]:
        extra.set_visible(False)
    axes[0].legend()
    figure.suptitle(f"episode {episode}: predicted vs recorded actions")
    figure.savefig(path, dpi=100)
    return path
