"""The control loop's core: one command per tick, with the next chunk computed on a worker thread.

The node's timer calls ``tick`` at the dataset's rate; it never waits for inference. Inference starts when
the chunk merger asks for a new chunk and runs on its own thread; its chunk joins the merger when done. The
robot holds its last safe command — and the reason is reported — whenever no action is available: before the
first chunk, when inference stalls or fails, when the policy returns non-finite actions (such a chunk is
dropped whole), or when an input stream is stale (then the queued actions are dropped too: they were computed
for a world that is no longer observed). The safe commands start from the robot's measured position
(``measure``): until a finite one is observed, after construction and after every ``reset``, no command is
given at all.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lerobot_policy_node.chunks import ChunkMerger
from lerobot_policy_node.observation import ObservationBuffer, StaleObservation
from lerobot_policy_node.safety import SafetyFilter

# predict(observation, pending, delay) → chunk (steps × joints), in command units. ``pending``: the queued
# actions from the observation's tick on (the chunk's index 0 replaces pending[0]); ``delay``: how many of
# them the robot executes before the chunk arrives.
Predict = Callable[[dict[str, np.ndarray], np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Chunk:
    """A chunk as computed, for monitoring (the node publishes it as lerobot_msgs/ActionChunk)."""

    actions: np.ndarray
    start_tick: int
    observation_stamp: float
    inference_time: float
    sequence: int


@dataclass
class TickResult:
    command: np.ndarray | None  # None: no measured position yet, nothing may be sent
    holding: bool
    reason: str = ""  # why the robot holds
    events: list[str] = field(default_factory=list)  # safety filter changes
    new_chunk: Chunk | None = None  # a chunk that joined the merger since the last tick


class PolicyRunner:
    def __init__(
        self,
        predict: Predict,
        observations: ObservationBuffer,
        merger: ChunkMerger,
        safety: SafetyFilter,
        fps: int,
        request_threshold: int,
        measure: Callable[[dict[str, np.ndarray]], np.ndarray],
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[dict[str, np.ndarray]], None] = lambda observation: None,
    ) -> None:
        """``measure``: the robot's position (command units, action order) in an observation; ``observe``
        receives every tick's observation (policies that use several past frames)."""
        self.predict = predict
        self.observations = observations
        self.merger = merger
        self.safety = safety
        self.fps = fps
        self.request_threshold = request_threshold
        self.measure = measure
        self.clock = clock
        self.observe = observe
        self.inference_times: deque[float] = deque(maxlen=100)
        self._lock = threading.Lock()
        self._jobs: deque = deque(maxlen=1)
        self._wake = threading.Condition(self._lock)
        self._busy = False
        self._tick = 0
        self._sequence = 0
        self._failure = ""
        self._rejected = ""  # why the last chunk was dropped, until a good one arrives
        self._resets = 0
        self._events: list[str] = []  # for the next tick's result
        self._new_chunk: Chunk | None = None
        self._running = True
        self._worker = threading.Thread(target=self._infer_loop, name="policy-inference", daemon=True)
        self._worker.start()

    def tick(self, tick: int) -> TickResult:
        """The command for control tick ``tick`` (ticks only grow; gaps are ticks the timer missed)."""
        now = self.clock()
        with self._lock:
            self._tick = tick
            new_chunk, self._new_chunk = self._new_chunk, None
            events, self._events = self._events, []
            if self._failure:
                return TickResult(self.safety.hold(), True, self._failure, events, new_chunk)
            try:
                observation, stamp = self.observations.assemble(now)
            except StaleObservation as stale:
                self.merger.reset()
                return TickResult(self.safety.hold(), True, f"stale input: {stale}", events, new_chunk)
            if not self.safety.started:  # the first fresh observation since a reset: start from it
                self.safety.reset(self.measure(observation))
                if not self.safety.started:
                    return TickResult(None, True, "the measured position is not finite", events, new_chunk)
            self.observe(observation)
            # ask early enough that the chunk arrives before the queue runs dry, however slow inference is
            delay = self._expected_delay()
            threshold = max(self.request_threshold, delay + 1)
            if not self._busy and self.merger.wants_chunk(tick, threshold):
                self._jobs.append((observation, stamp, tick, self.merger.pending(tick), delay, self._resets))
                self._busy = True
                self._wake.notify()
            action = self.merger.action(tick)
            waiting = "inference running" if self._busy else "no chunk requested"
            rejected, first = self._rejected, self._sequence == 0
        if action is None:
            reason = (
                f"no action left ({waiting}): {rejected}"
                if rejected
                else "waiting for the first chunk"
                if first
                else f"no action left ({waiting})"
            )
            return TickResult(self.safety.hold(), True, reason, events, new_chunk)
        command, changes = self.safety.filter(action)
        if not np.isfinite(action).all():  # the filter held the last safe command
            return TickResult(command, True, changes[0], events, new_chunk)
        return TickResult(command, False, events=events + changes, new_chunk=new_chunk)

    def _expected_delay(self) -> int:
        """Queued actions the robot executes before the next chunk arrives, from the slowest recent inference:
        the one of the requesting tick, plus one per tick that passes during inference (real-time chunking
        freezes that many)."""
        return int(max(self.inference_times, default=0.0) * self.fps) + 1

    def _infer_loop(self) -> None:
        while True:
            with self._lock:
                while self._running and not self._jobs:
                    self._wake.wait()
                if not self._running:
                    return
                observation, stamp, start_tick, pending, delay, resets = self._jobs.popleft()
            started = time.perf_counter()  # inference time is wall time, whatever clock the loop runs on
            unreachable = ""
            try:
                chunk = np.asarray(self.predict(observation, pending, delay), dtype=np.float64)
                failure = ""
            except ConnectionError as error:  # a policy server away: hold, and ask again at the next tick
                chunk, failure, unreachable = None, "", str(error)
            except Exception as error:  # any other failure stops the robot with a reason, not the loop
                chunk, failure = None, f"inference failed: {type(error).__name__}: {error}"
            elapsed = time.perf_counter() - started
            with self._lock:
                self._busy = False
                if resets != self._resets:
                    continue  # asked for before a reset: computed for a world the robot may have left
                if failure:
                    self._failure = failure
                    continue
                if unreachable:
                    self._rejected = unreachable
                    continue
                self.inference_times.append(elapsed)
                if not np.isfinite(chunk).all():  # never executed, never published: the policy is broken here
                    bad = int((~np.isfinite(chunk)).sum())
                    self._rejected = f"the policy returned non-finite actions ({bad} of {chunk.size} values)"
                    self._events.append(f"chunk dropped: {self._rejected}")
                    continue
                self._rejected = ""
                self.merger.add(chunk, start_tick, arrival_tick=self._tick + 1)
                self._new_chunk = Chunk(chunk, start_tick, stamp, elapsed, self._sequence)
                self._sequence += 1

    def reset(self) -> None:
        """Forget chunks, failures and the position (activation, start and reset services): the safe commands
        start again from the next observed position."""
        with self._lock:
            self.merger.reset()
            self.safety.reset(None)
            self._failure = self._rejected = ""
            if self._jobs:  # not picked up yet: no inference runs for it, another may be asked for
                self._jobs.clear()
                self._busy = False
            self._resets += 1

    def close(self) -> None:
        with self._lock:
            self._running = False
            self._wake.notify()
        self._worker.join(timeout=5)
