"""Chunk merging strategies on hand-made chunks, against hand-computed actions."""

import math

import numpy as np
import pytest

from lerobot_policy_node.chunks import (
    DEFAULT_ENSEMBLE_COEFF,
    LatencyAwareMerger,
    QueueMerger,
    RtcMerger,
    TemporalEnsembler,
    make_merger,
    resolve_strategy,
)


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


def actions(merger, ticks) -> list:
    return [None if (a := merger.action(t)) is None else float(a[0]) for t in ticks]


def test_queue_runs_a_chunk_from_its_arrival_and_asks_only_when_empty():
    merger = QueueMerger()
    assert merger.wants_chunk(0, threshold=5)
    merger.add(column(1, 2, 3), start_tick=0, arrival_tick=2)  # computed from tick 0, ready at tick 2
    assert not merger.wants_chunk(2, threshold=5)  # open loop: no overlap, even below the threshold
    assert merger.remaining(2) == 3
    assert actions(merger, [2, 3, 4, 5]) == [1, 2, 3, None]
    assert merger.wants_chunk(5, threshold=0)


def test_latency_merge_drops_passed_actions_and_blends_the_overlap():
    merger = LatencyAwareMerger("weighted_average")
    merger.add(column(0, 1, 2, 3, 4), start_tick=0, arrival_tick=1)  # tick 0 passed during inference
    assert merger.remaining(1) == 4
    merger.add(column(10, 11, 12, 13, 14), start_tick=2, arrival_tick=3)
    # ticks 3, 4 overlap the first chunk: 0.7·new + 0.3·old; tick 2 passed while computing
    assert actions(merger, [3, 4, 5, 6, 7]) == pytest.approx(
        [0.7 * 11 + 0.3 * 3, 0.7 * 12 + 0.3 * 4, 13, 14, None]
    )


@pytest.mark.parametrize(
    ("aggregate", "new_weight"), [("latest_only", 1), ("average", 0.5), ("conservative", 0.3)]
)
def test_latency_merge_aggregates(aggregate, new_weight):
    merger = LatencyAwareMerger(aggregate)
    merger.add(column(0, 0, 0), 0, 0)
    merger.add(column(10, 10, 10), 1, 1)
    assert actions(merger, [1]) == pytest.approx([10 * new_weight])


def test_rtc_replaces_the_queue_with_the_new_chunk_and_exposes_the_pending_actions():
    merger = RtcMerger()
    merger.add(column(0, 1, 2, 3, 4, 5), 0, 0)
    assert merger.pending(2).ravel().tolist() == [2, 3, 4, 5]  # what the policy must continue
    merger.add(column(20, 21, 22, 23), start_tick=2, arrival_tick=4)
    assert actions(merger, [4, 5, 6]) == [22, 23, None]


def test_temporal_ensembling_weights_the_oldest_most():
    m = 0.01
    merger = TemporalEnsembler(coeff=m)
    merger.add(column(1, 2, 3), start_tick=0, arrival_tick=1)
    merger.add(column(10, 20, 30), start_tick=1, arrival_tick=2)
    merger.add(column(100, 200, 300), start_tick=2, arrival_tick=3)
    w = [1, math.exp(-m), math.exp(-2 * m)]
    # tick 2: the first chunk's 3rd action, the second's 2nd, the third's 1st, oldest first
    expected = (w[0] * 3 + w[1] * 20 + w[2] * 100) / sum(w)
    assert actions(merger, [2]) == pytest.approx([expected])
    assert actions(merger, [3]) == pytest.approx([(w[0] * 30 + w[1] * 200) / (w[0] + w[1])])
    assert merger.remaining(3) == 2 and merger.wants_chunk(3, 0)
    assert actions(merger, [5]) == [None]


def test_make_merger_rejects_unknown_names():
    assert isinstance(make_merger("ensemble"), TemporalEnsembler)
    with pytest.raises(ValueError, match="chunk strategy must be one of"):
        make_merger("smooth")
    with pytest.raises(ValueError, match="aggregate must be one of"):
        make_merger("latency", aggregate="median")


def test_a_checkpoint_trained_with_temporal_ensembling_is_ensembled_with_its_coefficient():
    """As lerobot runs ACT with temporal_ensemble_coeff: ``auto`` ensembles, with the checkpoint's m."""
    assert resolve_strategy("auto", rtc_enabled=False, ensembles=True) == "ensemble"
    assert resolve_strategy("auto", rtc_enabled=False, ensembles=False) == "latency"
    assert resolve_strategy("auto", rtc_enabled=True, ensembles=False) == "rtc"
    assert resolve_strategy("latency", rtc_enabled=False, ensembles=True) == "latency"  # asked for: kept
    assert make_merger("ensemble", ensemble_coeff=0.05).coeff == 0.05
    assert make_merger("ensemble", ensemble_coeff=None).coeff == DEFAULT_ENSEMBLE_COEFF == 0.01
