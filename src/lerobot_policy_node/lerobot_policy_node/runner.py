"""The control loop's core: one command per tick, with the next chunk computed on a worker thread.

The node's timer calls ``tick`` at the dataset's rate; it never waits for inference. Inference starts when
the chunk merger asks for a new chunk and runs on its own thread; its chunk joins the merger when done. The
robot holds its last safe command — and the reason is reported — whenever no action is available: before the
first chunk, when inference stalls or fails, or when an input stream is stale (then the queued actions are
dropped too: they were computed for a world that is no longer observed).
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
    command: np.ndarray
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
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[dict[str, np.ndarray]], None] = lambda observation: None,
    ) -> None:
        """``observe`` receives every tick's observation (policies that use several past frames)."""
        self.predict = predict
        self.observations = observations
        self.merger = merger
        self.safety = safety
        self.fps = fps
        self.request_threshold = request_threshold
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
            if self._failure:
                return TickResult(self.safety.hold(), True, self._failure, new_chunk=new_chunk)
            try:
                observation, stamp = self.observations.assemble(now)
            except StaleObservation as stale:
                self.merger.reset()
                return TickResult(self.safety.hold(), True, f"stale input: {stale}", new_chunk=new_chunk)
            self.observe(observation)
            # ask early enough that the chunk arrives before the queue runs dry, however slow inference is
            delay = self._expected_delay()
            threshold = max(self.request_threshold, delay + 1)
            if not self._busy and self.merger.wants_chunk(tick, threshold):
                self._jobs.append((observation, stamp, tick, self.merger.pending(tick), delay))
                self._busy = True
                self._wake.notify()
            action = self.merger.action(tick)
            waiting = "inference running" if self._busy else "no chunk requested"
        if action is None:
            reason = "waiting for the first chunk" if self._sequence == 0 else f"no action left ({waiting})"
            return TickResult(self.safety.hold(), True, reason, new_chunk=new_chunk)
        command, events = self.safety.filter(action)
        return TickResult(command, False, events=events, new_chunk=new_chunk)

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
                observation, stamp, start_tick, pending, delay = self._jobs.popleft()
            started = time.perf_counter()  # inference time is wall time, whatever clock the loop runs on
            try:
                chunk = np.asarray(self.predict(observation, pending, delay), dtype=np.float64)
                failure = ""
            except (
                Exception
            ) as error:  # any policy failure must stop the robot with a reason, not kill the loop
                chunk, failure = None, f"inference failed: {type(error).__name__}: {error}"
            elapsed = time.perf_counter() - started
            with self._lock:
                self._busy = False
                if failure:
                    self._failure = failure
                    continue
                self.inference_times.append(elapsed)
                self.merger.add(chunk, start_tick, arrival_tick=self._tick + 1)
                self._new_chunk = Chunk(chunk, start_tick, stamp, elapsed, self._sequence)
                self._sequence += 1

    def reset(self, position: np.ndarray) -> None:
        """Forget chunks and failures and start again from ``position`` (activation, reset service)."""
        with self._lock:
            self.merger.reset()
            self.safety.reset(position)
            self._failure = ""
            self._jobs.clear()

    def close(self) -> None:
        with self._lock:
            self._running = False
            self._wake.notify()
        self._worker.join(timeout=5)
