"""The last step before a command leaves the node: finite values only, within joint limits, bounded steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SafetyLimits:
    """Per-joint bounds in command units (radians); None disables a check."""

    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    max_step: np.ndarray | float | None = None  # largest change of a joint from one tick to the next


class SafetyFilter:
    """Filters one command per tick. A non-finite action is never sent: the last safe command is held.

    Steps are bounded from the robot's measured position: until one is known (``start`` None, or a reset to a
    position that is not finite) there is no safe command at all, and ``hold`` returns None.
    """

    def __init__(self, limits: SafetyLimits, start: np.ndarray | None = None) -> None:
        self.limits = limits
        self.last: np.ndarray | None = None
        if start is not None:
            start = np.asarray(start, dtype=np.float64)
            if not np.isfinite(start).all():
                raise ValueError(f"the starting position is not finite: {start}")
            self.last = self._clamp(start)

    @property
    def started(self) -> bool:
        """Whether a measured position is known (commands can be sent)."""
        return self.last is not None

    def _clamp(self, command: np.ndarray) -> np.ndarray:
        if self.limits.lower is not None or self.limits.upper is not None:
            command = np.clip(command, self.limits.lower, self.limits.upper)
        return command

    def preview(self, previous: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The command ``action`` would become after ``previous``, and why it changed; changes no state."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != previous.shape:
            raise ValueError(f"action has shape {action.shape}, the robot has {previous.shape[0]} joints")
        if not np.isfinite(action).all():
            return previous.copy(), [f"non-finite action {action.tolist()} replaced by holding position"]
        events = []
        command = self._clamp(action)
        if not np.array_equal(command, action):
            events.append("action clamped to the joint limits")
        if self.limits.max_step is not None:
            step = np.clip(command - previous, -self.limits.max_step, self.limits.max_step)
            if not np.array_equal(step, command - previous):
                events.append("action step limited")
            command = previous + step
        return command, events

    def filter(self, action: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The command to send this tick for ``action``, and what was changed (empty when untouched)."""
        if self.last is None:
            raise RuntimeError("no measured position yet: reset() the filter to the robot's position first")
        command, events = self.preview(self.last, action)
        self.last = command
        return command.copy(), events

    def hold(self) -> np.ndarray | None:
        """The last safe command (what the robot holds when no action is available); None before a measured
        position is known: then nothing may be sent."""
        return None if self.last is None else self.last.copy()

    def reset(self, position: np.ndarray | None) -> None:
        """Start again from the robot's measured position (activation, after a stop). None or a position that
        is not finite forgets the last one: no command until a finite one is given."""
        position = None if position is None else np.asarray(position, dtype=np.float64)
        self.last = self._clamp(position) if position is not None and np.isfinite(position).all() else None
