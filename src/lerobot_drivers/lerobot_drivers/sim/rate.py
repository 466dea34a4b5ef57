"""Achieved event rate over a sliding window (the sim's camera frames, as its diagnostics report them)."""

from collections import deque


class RateMeter:
    """Events per second over the last ``window`` seconds of a clock the caller gives (not thread-safe)."""

    def __init__(self, window: float = 2.0) -> None:
        if window <= 0:
            raise ValueError(f"window must be > 0 s, got {window}")
        self.window = window
        self.count = 0  # events since the start
        self._times: deque[float] = deque()
        self._first: float | None = None

    def tick(self, now: float) -> None:
        self._first = now if self._first is None else self._first
        self._times.append(now)
        self.count += 1

    def rate(self, now: float) -> float | None:
        """Events per second in the window ending at ``now``; None until a window has passed since the first
        event (too few to tell), 0 when nothing came in the last window."""
        if self._first is None or now - self._first < self.window:
            return None
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        return len(self._times) / self.window
