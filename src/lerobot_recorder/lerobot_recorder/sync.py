"""Time alignment of recorded streams on the dataset's fixed frame grid.

Every stream is a sorted array of sample times (header stamps, or receive times for messages without one).
The grid starts when the last stream has started (late streams trim the start) and ends when the first has
ended. Per stream, a policy picks the sample for each frame time t:

- ``hold``: the latest sample at or before t, however old; stretches older than the tolerance are reported.
- ``drop``: the latest sample at or before t if it is within the tolerance, else the frame is dropped.
- ``nearest``: the closest sample within the tolerance, else the frame is dropped. Only for ``action``
  streams may it be a later sample: an observation never uses data from the future.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NS = 1_000_000_000


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
    grid_frames: int  # frames on the grid before any was dropped
    dropped: dict[str, np.ndarray] = field(default_factory=dict)  # stream → grid times (ns) it made drop
    stale: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # stream → grid times (ns) held beyond tolerance
    gaps: dict[str, list[tuple[int, int]]] = field(
        default_factory=dict
    )  # stream → (start, end) ns > tolerance
    trimmed_start_s: float = 0.0  # seconds cut before the grid because a stream started late
    trimmed_end_s: float = 0.0  # seconds cut after the grid because a stream ended early


def align(stamps: dict[str, np.ndarray], fps: int, policies: dict[str, StreamPolicy]) -> Alignment:
    """Align sorted int64 nanosecond ``stamps`` per stream on a grid of ``fps``."""
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
    picks, dropped, stale, gaps = {}, {}, {}, {}
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
            dropped[name] = grid[~within]
            keep &= within
        picks[name] = pick
        step = np.diff(times)
        gaps[name] = [(int(times[i]), int(times[i + 1])) for i in np.flatnonzero(step > tolerance)]
    return Alignment(
        frame_times=grid[keep],
        picks={name: pick[keep] for name, pick in picks.items()},
        grid_frames=len(grid),
        dropped=dropped,
        stale=stale,
        gaps=gaps,
        trimmed_start_s=(start - first) / NS,
        trimmed_end_s=(last - end) / NS,
    )
