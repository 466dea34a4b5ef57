"""The control loop core with a slow fake policy: commands every tick, holds with reasons, never a NaN."""

import threading
import time

import numpy as np
import pytest

from lerobot_policy_node.chunks import make_merger
from lerobot_policy_node.observation import ObservationBuffer
from lerobot_policy_node.runner import PolicyRunner
from lerobot_policy_node.safety import SafetyFilter, SafetyLimits

FPS = 50


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_runner(predict, strategy="latency", threshold=5, clock=None, limits=None):
    clock = clock or FakeClock()
    limits = limits or SafetyLimits()
    observations = ObservationBuffer(["observation.state"], staleness_s=0.5)
    runner = PolicyRunner(
        predict, observations, make_merger(strategy), SafetyFilter(limits), fps=FPS,
        request_threshold=threshold, measure=lambda o: o["observation.state"], clock=clock,
    )  # fmt: skip
    return runner, observations, clock


def ramp_policy(delay_s: float, calls: list):
    """A chunk of 10 steps continuing from the observed state; sleeps ``delay_s`` (slower than a tick)."""

    def predict(observation, pending, delay):
        calls.append((observation["observation.state"].copy(), len(pending), delay))
        time.sleep(delay_s)
        base = observation["observation.state"]
        return np.stack([base + 0.01 * (k + 1) for k in range(10)])

    return predict


def run_ticks(runner, observations, clock, ticks, state=lambda t: np.full(2, t * 0.01)):
    results = []
    for tick in range(ticks):
        clock.now = 100.0 + tick / FPS
        observations.update("observation.state", state(tick), stamp=clock.now, received=clock.now)
        results.append(runner.tick(tick))
        time.sleep(1 / FPS)
    return results


def test_no_gap_across_chunk_boundaries_while_inference_is_slower_than_a_tick():
    calls = []
    runner, observations, clock = make_runner(ramp_policy(delay_s=0.05, calls=calls))  # 2.5 ticks
    try:
        results = run_ticks(runner, observations, clock, ticks=60)
    finally:
        runner.close()
    first_action = next(i for i, r in enumerate(results) if not r.holding)
    assert first_action < 10  # the first chunk arrives within a few ticks
    holding = [i for i, r in enumerate(results) if r.holding and i > first_action]
    assert holding == [], f"held at ticks {holding}: a gap between chunks"
    assert len(calls) >= 5  # a new chunk was asked for before the queue ran dry, again and again
    assert all(np.isfinite(r.command).all() for r in results)
    assert any(r.new_chunk is not None and r.new_chunk.inference_time >= 0.05 for r in results)


def test_stale_input_holds_and_drops_the_queue():
    runner, observations, clock = make_runner(ramp_policy(0.0, []))
    try:
        results = run_ticks(runner, observations, clock, ticks=10)
        assert not results[-1].holding
        clock.now += 1.0  # the state stream stops for a second
        result = runner.tick(10 + FPS)
        assert result.holding and "stale input: observation.state: last message" in result.reason
        assert (result.command == results[-1].command).all()  # holds the last safe command
        assert runner.merger.remaining(10 + FPS) == 0
    finally:
        runner.close()


def test_nan_policy_output_is_held_and_failures_stop_with_the_reason():
    runner, observations, clock = make_runner(lambda o, p, d: np.full((5, 2), np.nan), strategy="queue")
    try:
        results = run_ticks(runner, observations, clock, ticks=8)
        assert all(np.isfinite(r.command).all() for r in results)
        events = [e for r in results for e in r.events]
        assert any("chunk dropped: the policy returned non-finite actions" in e for e in events)
        # the chunk is neither executed nor handed out (the node would publish it), and the hold says why
        assert all(r.new_chunk is None and r.holding for r in results)
        assert "non-finite actions (10 of 10 values)" in results[-1].reason
    finally:
        runner.close()

    def broken(observation, pending, delay):
        raise RuntimeError("CUDA out of memory")

    runner, observations, clock = make_runner(broken)
    try:
        results = run_ticks(runner, observations, clock, ticks=8)
        assert (
            results[-1].holding and "inference failed: RuntimeError: CUDA out of memory" in results[-1].reason
        )
    finally:
        runner.close()


def test_rtc_policy_gets_the_pending_actions_and_the_expected_delay():
    calls = []
    runner, observations, clock = make_runner(ramp_policy(0.05, calls), strategy="rtc", threshold=8)
    try:
        run_ticks(runner, observations, clock, ticks=40)
    finally:
        runner.close()
    later = calls[2:]
    assert later and all(pending > 0 for _, pending, _ in later)  # the queued tail is handed over
    assert all(delay >= 3 for _, _, delay in later)  # ≥ 0.05 s at 50 Hz: at least 3 ticks
    assert threading.active_count() >= 1


def test_commands_start_from_the_measured_position_and_never_before_one():
    """No command until a finite state arrived, and the step bound counts from it: after construction and
    after every reset (the arm may have moved meanwhile)."""
    limits = SafetyLimits(max_step=0.05)
    runner, observations, clock = make_runner(ramp_policy(0.0, []), limits=limits)
    measured = np.array([1.5, -1.5])  # far from zero: a command near zero would jump the arm
    try:
        nan_state = run_ticks(runner, observations, clock, ticks=3, state=lambda t: np.array([np.nan, 0.0]))
        assert all(r.command is None and r.holding for r in nan_state)
        assert "observation.state: last message rejected: non-finite values [nan" in nan_state[-1].reason
        results = run_ticks(runner, observations, clock, ticks=20, state=lambda t: measured)
        assert results[0].command == pytest.approx(measured)
        assert all(np.abs(r.command - measured).max() <= 0.05 * (k + 1) for k, r in enumerate(results))
        assert not results[-1].holding
        runner.reset()  # ~/reset or ~/start: the arm was moved to -measured while stopped
        clock.now += 1 / FPS
        observations.update("observation.state", -measured, stamp=clock.now, received=clock.now)
        assert runner.tick(21).command == pytest.approx(-measured)
    finally:
        runner.close()


def test_a_chunk_asked_for_before_a_reset_is_never_executed():
    started, release, calls = threading.Event(), threading.Event(), []

    def predict(observation, pending, delay):  # holds the observed state; the first call until released
        calls.append(observation["observation.state"].copy())
        if len(calls) == 1:
            started.set()
            release.wait(10)
        return np.stack([observation["observation.state"]] * 10)

    runner, observations, clock = make_runner(predict)
    try:
        observations.update("observation.state", np.zeros(2), stamp=clock.now, received=clock.now)
        runner.tick(0)  # asks for a chunk from the pose 0
        assert started.wait(10)
        runner.reset()  # ~/reset while it is computed: the arm was moved to 1 meanwhile
        release.set()
        results = run_ticks(runner, observations, clock, ticks=20, state=lambda t: np.ones(2))
    finally:
        runner.close()
    assert len(calls) >= 2 and any(not r.holding for r in results)
    assert all(r.command.tolist() == [1.0, 1.0] for r in results)  # the chunk for pose 0 never ran
