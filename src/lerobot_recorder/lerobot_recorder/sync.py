"""Time alignment of recorded streams on the dataset's fixed frame grid.

Every stream is a sorted array of sample times (header stamps, or receive times for messages without one).
The grid starts when the last stream has started (late streams trim the start) and ends when the first has
ended. Per stream, a policy picks the sample for each frame time t:

- ``hold``: the latest sample at or before t, however old; stretches older than the tolerance are reported.
- ``drop``: the latest sample at or before t, which should be within the tolerance.
- ``nearest``: the closest sample, which should be within the tolerance. Only for ``action`` streams may it
  be a later sample: an observation never uses data from the future.

Time is never compressed: the dataset stores frame k of an episode at k/fps, so every frame kept is the grid
frame at that time. Where a ``drop`` or ``nearest`` stream has no sample within its tolerance:

- for at most ``max_fill`` consecutive grid frames (a message lost now and then), the frames are kept with
  the sample the policy picks anyway (so at most ``max_fill`` periods beyond the tolerance away) and counted
  as *filled* for that stream;
- for longer, the frames are cut and the episode is split there: each side becomes an episode of its own,
  whose time starts again at 0 (one ``segment`` each). A side shorter than ``min_episode_s`` is dropped
  (one of ``fragments``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

NS = 1_000_000_000
# Consecutive grid frames a stream may miss and still be filled: one lost camera message costs one or two.
DEFAULT_MAX_FILL = 2
# A piece between gaps shorter than this is no episode worth training on (a camera far below the fps would
# otherwise give dozens of episodes of a frame or two): it is dropped and reported.
MIN_EPISODE_S = 0.5
# A camera slower than this share of the dataset's fps is warned about (real ones run at 29.97 Hz for 30).
RATE_MARGIN = 0.9


def below_fps(rate: float, fps: int) -> bool:
    """Whether a stream's measured ``rate`` (Hz) is too slow for a dataset of ``fps``."""
    return rate < RATE_MARGIN * fps


class SyncError(ValueError):
    """Streams that cannot be aligned (empty, or not overlapping in time)."""


@dataclass(frozen=True)
class StreamPolicy:
    mode: str
    tolerance_s: float
    future_allowed: bool = False  # actions only


@dataclass
class Alignment:
    frame_times: np.ndarray  # ns, the grid times of the kept frames
    picks: dict[str, np.ndarray]  # stream → index of its sample for each kept frame
    grid_frames: int  # frames on the grid before any was cut
    segments: list[tuple[int, int]] = field(default_factory=list)  # [begin, end) of kept frames: episodes
    fragments: list[tuple[int, int]] = field(
        default_factory=list
    )  # (first, last) grid ns of the sides of a split too short to keep
    dropped: dict[str, np.ndarray] = field(default_factory=dict)  # stream → grid times (ns) it made cut
    filled: dict[str, np.ndarray] = field(default_factory=dict)  # stream → kept frames' indices it filled
    stale: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # stream → grid times (ns) held beyond tolerance
    gaps: dict[str, list[tuple[int, int]]] = field(
        default_factory=dict
    )  # stream → (start, end) ns > tolerance
    trimmed_start_s: float = 0.0  # seconds cut before the grid because a stream started late
    trimmed_end_s: float = 0.0  # seconds cut after the grid because a stream ended early


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[begin, end) of every run of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def align(
    stamps: dict[str, np.ndarray],
    fps: int,
    policies: dict[str, StreamPolicy],
    max_fill: int = DEFAULT_MAX_FILL,
    min_episode_s: float = MIN_EPISODE_S,
) -> Alignment:
    """Align sorted int64 nanosecond ``stamps`` per stream on a grid of ``fps``; see the module doc."""
    if max_fill < 0:
        raise ValueError(f"max_fill must be >= 0 frames, got {max_fill}")
    empty = [name for name, s in stamps.items() if len(s) == 0]
    if empty:
        raise SyncError(f"no message on stream(s) {empty}")
    first = min(int(s[0]) for s in stamps.values())
    last = max(int(s[-1]) for s in stamps.values())
    start = max(int(s[0]) for s in stamps.values())
    end = min(int(s[-1]) for s in stamps.values())
    if end < start:
        raise SyncError("the streams do not overlap in time: one ends before another starts")
    period = NS / fps
    grid = start + np.round(np.arange(int((end - start) / period) + 1) * period).astype(np.int64)
    keep = np.ones(len(grid), dtype=bool)
    picks, dropped, stale, gaps, short = {}, {}, {}, {}, {}
    for name, times in stamps.items():
        policy = policies[name]
        tolerance = int(policy.tolerance_s * NS)
        before = (
            np.searchsorted(times, grid, side="right") - 1
        )  # ≥ 0: the grid starts after every first sample
        pick = before
        if policy.mode == "nearest" and policy.future_allowed:
            after = np.minimum(before + 1, len(times) - 1)
            pick = np.where(times[after] - grid < grid - times[before], after, before)
        distance = np.abs(grid - times[pick])
        within = distance <= tolerance
        if policy.mode == "hold":
            stale[name] = grid[~within]
        else:
            cut = np.zeros(len(grid), dtype=bool)
            short[name] = np.zeros(len(grid), dtype=bool)
            for begin, stop in _runs(~within):
                (short[name] if stop - begin <= max_fill else cut)[begin:stop] = True
            dropped[name] = grid[cut]
            keep &= ~cut
        picks[name] = pick
        step = np.diff(times)
        gaps[name] = [(int(times[i]), int(times[i + 1])) for i in np.flatnonzero(step > tolerance)]
    fragments = []
    for begin, stop in _runs(keep) if not keep.all() else ():  # a bag without a cut is kept whole
        if stop - begin < min_episode_s * fps:
            fragments.append((int(grid[begin]), int(grid[stop - 1])))
            keep[begin:stop] = False
    # a new episode wherever kept grid frames are not adjacent
    lengths = [stop - begin for begin, stop in _runs(keep)]
    bounds = np.concatenate(([0], np.cumsum(lengths))).astype(int).tolist()
    return Alignment(
        frame_times=grid[keep],
        picks={name: pick[keep] for name, pick in picks.items()},
        grid_frames=len(grid),
        segments=list(pairwise(bounds)),
        fragments=fragments,
        dropped=dropped,
        filled={name: np.flatnonzero(mask[keep]) for name, mask in short.items()},
        stale=stale,
        gaps=gaps,
        trimmed_start_s=(start - first) / NS,
        trimmed_end_s=(last - end) / NS,
    )
