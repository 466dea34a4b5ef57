"""Per-episode and aggregated feature statistics, computed the way the LeRobot library defines them.

Numbers: min, max, mean, std (population) and q01..q99 per dimension; quantiles are read off a 5000-bin
histogram spanning [min - 1e-10, max + 1e-10] with linear interpolation inside the bin. Cameras: the same
statistics per channel over the pixels of frames sampled evenly across the episode, each frame strided down
to about 150 px, values scaled to [0, 1] (depth maps stay in their own units); shapes (C, 1, 1).
Across episodes: count-weighted mean and quantiles, variance combined from per-episode means and variances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from lerobot_dataset.features import camera_shape, is_camera

STAT_NAMES = ("min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99")
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
NUM_BINS = 5000
_EDGE_PAD = 1e-10

Stats = dict[str, np.ndarray]


def num_image_samples(length: int) -> int:
    """How many frames of an episode of ``length`` frames the image statistics look at."""
    lower = min(100, length)
    return max(lower, min(int(length**0.75), 10_000))


def sample_indices(length: int) -> list[int]:
    """Frame indices sampled for image statistics: evenly spaced from the first to the last frame."""
    return np.round(np.linspace(0, length - 1, num_image_samples(length))).astype(int).tolist()


def downsample(image: np.ndarray) -> np.ndarray:
    """Stride an (H, W, C) frame whose larger side is >= 300 px down to about 150 px (a view, no copy)."""
    height, width = image.shape[:2]
    if max(height, width) < 300:
        return image
    step = int(max(height, width) / 150)
    return image[::step, ::step]


def _quantiles(
    values: np.ndarray, weights: np.ndarray | None, lo: float, hi: float, total: float
) -> list[float]:
    if lo == hi:
        return [float(lo)] * len(QUANTILES)
    edges = np.linspace(lo - _EDGE_PAD, hi + _EDGE_PAD, NUM_BINS + 1)
    hist, _ = np.histogram(values, bins=edges, weights=weights)
    cumulative = np.cumsum(hist)
    result = []
    for q in QUANTILES.values():
        target = q * total
        idx = int(np.searchsorted(cumulative, target))
        if idx == 0:
            result.append(float(edges[0]))
        elif idx >= len(cumulative):
            result.append(float(edges[-1]))
        else:
            before = cumulative[idx - 1]
            in_bin = cumulative[idx] - before
            if in_bin == 0:
                result.append(float(edges[idx]))
            else:
                result.append(float(edges[idx] + (target - before) / in_bin * (edges[idx + 1] - edges[idx])))
    return result


def numeric_stats(values: np.ndarray) -> Stats:
    """Statistics of one feature over an episode: ``values`` is (T,) for scalars or (T, D) for vectors."""
    data = np.asarray(values, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    count, dims = data.shape
    if count == 0:
        raise ValueError("cannot compute statistics of an empty episode")
    stats: Stats = {
        "min": data.min(axis=0),
        "max": data.max(axis=0),
        "mean": data.mean(axis=0),
        "std": data.std(axis=0),
        "count": np.array([count], dtype=np.int64),
    }
    if count < 2:
        # Too few values for a histogram; the library reports the mean for every quantile.
        for name in QUANTILES:
            stats[name] = stats["mean"].copy()
        return stats
    per_dim = [_quantiles(data[:, d], None, stats["min"][d], stats["max"][d], count) for d in range(dims)]
    for i, name in enumerate(QUANTILES):
        stats[name] = np.array([q[i] for q in per_dim])
    return stats


class PixelCounter:
    """Per-channel histogram of integer pixel values over sampled frames; exact stats in O(levels) memory."""

    def __init__(self, channels: int, levels: int):
        self.channels = channels
        self.levels = levels
        self.counts = np.zeros((channels, levels), dtype=np.int64)
        self.frames = 0
        self._offsets = (np.arange(channels, dtype=np.int64) * levels).reshape(1, 1, channels)

    def add(self, image: np.ndarray) -> None:
        """Count the pixels of one (H, W, C) integer frame (already downsampled)."""
        flat = (image.astype(np.int64) + self._offsets).ravel()
        self.counts += np.bincount(flat, minlength=self.channels * self.levels).reshape(self.channels, -1)
        self.frames += 1

    def stats(self, scale: float) -> Stats:
        """Statistics per channel, shapes (C, 1, 1), values divided by ``scale``."""
        if self.frames == 0:
            raise ValueError("no frames were sampled")
        levels = np.arange(self.levels, dtype=np.float64)
        out: dict[str, list[float]] = {name: [] for name in STAT_NAMES if name != "count"}
        for counts in self.counts:
            total = counts.sum()
            present = np.flatnonzero(counts)
            lo, hi = float(present[0]), float(present[-1])
            mean = float((levels * counts).sum() / total)
            var = float((((levels - mean) ** 2) * counts).sum() / total)
            out["min"].append(lo)
            out["max"].append(hi)
            out["mean"].append(mean)
            out["std"].append(var**0.5)
            for name, value in zip(QUANTILES, _quantiles(levels, counts, lo, hi, float(total)), strict=True):
                out[name].append(value)
        stats: Stats = {name: np.array(v).reshape(-1, 1, 1) / scale for name, v in out.items()}
        stats["count"] = np.array([self.frames], dtype=np.int64)
        return stats


def aggregate(stats_list: Iterable[Mapping[str, Stats]]) -> dict[str, Stats]:
    """Combine per-episode (or per-dataset) statistics into statistics of the whole."""
    stats_list = list(stats_list)
    keys = list(dict.fromkeys(key for stats in stats_list for key in stats))
    return {key: _aggregate_feature([s[key] for s in stats_list if key in s]) for key in keys}


def _aggregate_feature(parts: list[Stats]) -> Stats:
    means = np.stack([np.asarray(p["mean"], dtype=np.float64) for p in parts])
    variances = np.stack([np.asarray(p["std"], dtype=np.float64) ** 2 for p in parts])
    counts = np.stack([np.asarray(p["count"], dtype=np.int64).reshape(1) for p in parts])
    total = counts.sum(axis=0)
    weights = counts.astype(np.float64).reshape((-1,) + (1,) * (means.ndim - 1))
    mean = (means * weights).sum(axis=0) / total
    variance = ((variances + (means - mean) ** 2) * weights).sum(axis=0) / total
    result: Stats = {
        "min": np.min(np.stack([np.asarray(p["min"], dtype=np.float64) for p in parts]), axis=0),
        "max": np.max(np.stack([np.asarray(p["max"], dtype=np.float64) for p in parts]), axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": total.astype(np.int64),
    }
    for name in QUANTILES:
        if all(name in p for p in parts):
            values = np.stack([np.asarray(p[name], dtype=np.float64) for p in parts])
            result[name] = (values * weights).sum(axis=0) / total
    return result


def to_json(stats: Mapping[str, Stats]) -> dict[str, dict[str, Any]]:
    """Nested lists, as meta/stats.json stores them (count as integers)."""
    return {
        key: {name: np.asarray(value).tolist() for name, value in feature_stats.items()}
        for key, feature_stats in stats.items()
    }


def from_json(data: Mapping[str, Mapping[str, Any]]) -> dict[str, Stats]:
    return {key: {name: np.asarray(value) for name, value in fs.items()} for key, fs in data.items()}


def expected_shape(feature: Mapping[str, Any]) -> tuple[int, ...]:
    """Shape of every statistic except ``count`` for a feature."""
    if is_camera(feature):
        return (camera_shape(feature)[2], 1, 1)
    return (int(feature["shape"][0]),)
