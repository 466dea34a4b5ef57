"""How successive action chunks become one action per control tick.

Time is counted in control ticks (one per 1/fps). A chunk computed from the observation of tick ``start``
holds actions for ticks ``start, start + 1, ...``; it arrives at a later tick, after the inference time.

- ``queue``: open loop, as lerobot runs on robots: a chunk is executed from its first action on from the tick
  it arrives, and the next one is only asked for when it runs out (the robot waits for each inference).
- ``ensemble``: ACT's temporal ensembling: every chunk that covers a tick votes, weighted exp(-m·i) with i = 0
  for the oldest; needs a new chunk often (n_action_steps 1 in lerobot).
- ``latency``: latency-aware merge: a chunk's actions for ticks that passed during inference are dropped, and
  where it overlaps the queued actions the two are blended (``aggregate``).
- ``rtc``: real-time chunking for flow policies: as ``latency``, but the policy itself continues the queued
  actions (it is given ``pending()`` and the expected delay), so the new chunk simply replaces the old one.
- ``auto`` (the node's default): ``rtc`` for a policy with real-time chunking enabled, ``ensemble`` for one
  trained with temporal ensembling (ACT's ``temporal_ensemble_coeff``, as lerobot runs it), else ``latency``.
"""

from __future__ import annotations

import abc
from collections import deque

import numpy as np

# weight of the *new* chunk where two overlap; lerobot's aggregations of async inference
AGGREGATES = {"latest_only": 1.0, "weighted_average": 0.7, "average": 0.5, "conservative": 0.3}
STRATEGIES = ("queue", "ensemble", "latency", "rtc")
STRATEGY_CHOICES = ("auto", *STRATEGIES)
# ACT's suggested coefficient, for ensembling a checkpoint whose config sets none
DEFAULT_ENSEMBLE_COEFF = 0.01


class ChunkMerger(abc.ABC):
    """Turns chunks into one action per tick; not thread-safe (the runner serializes calls)."""

    @abc.abstractmethod
    def add(self, chunk: np.ndarray, start_tick: int, arrival_tick: int) -> None:
        """A chunk (steps × joints) from the observation of ``start_tick``, ready at ``arrival_tick``."""

    @abc.abstractmethod
    def action(self, tick: int) -> np.ndarray | None:
        """The action for ``tick``, or None when there is none (the robot must hold)."""

    @abc.abstractmethod
    def remaining(self, tick: int) -> int:
        """Actions available from ``tick`` on (the queue depth)."""

    def wants_chunk(self, tick: int, threshold: int) -> bool:
        """Whether to start an inference now: when fewer than ``threshold`` actions remain."""
        return self.remaining(tick) <= threshold

    @abc.abstractmethod
    def pending(self, tick: int) -> np.ndarray:
        """The actions still to execute from ``tick`` on (what a new chunk should continue); read-only."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every chunk (after a stop or a reset)."""


class _Timeline(ChunkMerger):
    """Actions stored by absolute tick."""

    def __init__(self) -> None:
        self._actions: dict[int, np.ndarray] = {}

    def action(self, tick: int) -> np.ndarray | None:
        for old in [t for t in self._actions if t < tick]:
            del self._actions[old]
        return self._actions.get(tick)

    def pending(self, tick: int) -> np.ndarray:
        return np.asarray([self._actions[t] for t in range(tick, tick + self.remaining(tick))])

    def remaining(self, tick: int) -> int:
        count = 0
        while tick + count in self._actions:
            count += 1
        return count

    def reset(self) -> None:
        self._actions.clear()


class QueueMerger(_Timeline):
    """Open loop: the newest chunk runs from its first action, starting at its arrival."""

    def add(self, chunk: np.ndarray, start_tick: int, arrival_tick: int) -> None:
        self._actions = {arrival_tick + k: action for k, action in enumerate(chunk)}

    def wants_chunk(self, tick: int, threshold: int) -> bool:
        return self.remaining(tick) == 0  # never overlap: the next chunk is asked for when this one is done


class LatencyAwareMerger(_Timeline):
    """Chunks aligned on their observation tick; passed actions dropped; overlaps blended."""

    def __init__(self, aggregate: str = "weighted_average") -> None:
        super().__init__()
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {sorted(AGGREGATES)}, got {aggregate!r}")
        self.new_weight = AGGREGATES[aggregate]

    def add(self, chunk: np.ndarray, start_tick: int, arrival_tick: int) -> None:
        merged = {}
        for k, action in enumerate(chunk):
            tick = start_tick + k
            if tick < arrival_tick:
                continue  # its time passed while the chunk was computed
            old = self._actions.get(tick)
            merged[tick] = action if old is None else self.new_weight * action + (1 - self.new_weight) * old
        self._actions = (
            merged  # the old chunk's actions beyond the new one are dropped: the new one is fresher
        )


class RtcMerger(LatencyAwareMerger):
    """Real-time chunking: the policy already continued the pending actions; the new chunk replaces them."""

    def __init__(self) -> None:
        super().__init__("latest_only")


class TemporalEnsembler(ChunkMerger):
    """ACT's temporal ensembling: weights exp(-coeff · i) over the chunks covering a tick, oldest first."""

    def __init__(self, coeff: float = DEFAULT_ENSEMBLE_COEFF) -> None:
        self.coeff = coeff
        self._chunks: deque[tuple[int, np.ndarray]] = deque()  # (start tick, chunk), oldest first

    def add(self, chunk: np.ndarray, start_tick: int, arrival_tick: int) -> None:
        self._chunks.append((start_tick, np.asarray(chunk)))

    def _ensemble(self, tick: int) -> np.ndarray | None:
        votes = [chunk[tick - start] for start, chunk in self._chunks if start <= tick < start + len(chunk)]
        if not votes:
            return None
        weights = np.exp(-self.coeff * np.arange(len(votes)))
        return np.tensordot(weights / weights.sum(), np.asarray(votes), axes=1)

    def action(self, tick: int) -> np.ndarray | None:
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= tick:
            self._chunks.popleft()  # every action of the oldest chunk is in the past
        return self._ensemble(tick)

    def remaining(self, tick: int) -> int:
        return max((start + len(chunk) - tick for start, chunk in self._chunks), default=0)

    def pending(self, tick: int) -> np.ndarray:
        return np.asarray([self._ensemble(t) for t in range(tick, tick + self.remaining(tick))])

    def wants_chunk(self, tick: int, threshold: int) -> bool:
        return True  # every new observation adds a vote

    def reset(self) -> None:
        self._chunks.clear()


def resolve_strategy(requested: str, rtc_enabled: bool, ensembles: bool = False) -> str:
    """The strategy to run: ``auto`` picks ``rtc`` when the policy has real-time chunking enabled, else
    ``ensemble`` when its config sets temporal ensembling (``ensembles``), else ``latency``."""
    if requested not in STRATEGY_CHOICES:
        raise ValueError(f"chunk strategy must be one of {STRATEGY_CHOICES}, got {requested!r}")
    if requested == "auto":
        return "rtc" if rtc_enabled else "ensemble" if ensembles else "latency"
    if requested == "rtc" and not rtc_enabled:
        raise ValueError(
            "strategy 'rtc' needs a flow policy with real-time chunking enabled (e.g. pi0 with "
            '"rtc_config": {"enabled": true} in its config.json); use strategy auto or latency for this one'
        )
    return requested


def make_merger(
    strategy: str, aggregate: str = "weighted_average", ensemble_coeff: float | None = None
) -> ChunkMerger:
    """The merger of ``strategy``; ``ensemble_coeff``: the checkpoint's ``temporal_ensemble_coeff`` (None: the
    policy was not trained with ensembling, which then weighs with DEFAULT_ENSEMBLE_COEFF)."""
    if strategy == "queue":
        return QueueMerger()
    if strategy == "ensemble":
        return TemporalEnsembler(DEFAULT_ENSEMBLE_COEFF if ensemble_coeff is None else ensemble_coeff)
    if strategy == "latency":
        return LatencyAwareMerger(aggregate)
    if strategy == "rtc":
        return RtcMerger()
    raise ValueError(f"chunk strategy must be one of {STRATEGIES}, got {strategy!r}")
