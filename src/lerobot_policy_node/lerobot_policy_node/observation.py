"""Live observations for a policy: the newest sample per stream, checked for staleness and against the
features the checkpoint was trained on."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

import numpy as np

from lerobot_dataset.images import expected_dtype
from lerobot_dataset.mapping import Mapping


class StaleObservation(RuntimeError):
    """An input stream is missing, too old or its last message was rejected; the message says which, why."""


@dataclass(frozen=True)
class Sample:
    value: np.ndarray
    stamp: float  # seconds: header stamp, or receive time
    received: float  # seconds, node clock


@dataclass(frozen=True)
class StreamStatistics:
    """One input stream since the statistics were restarted (as lerobot_msgs/TopicStatistics)."""

    received: int
    dropped: int  # rejected messages: undecodable, non-finite values, an image size the policy cannot take
    rate: float  # Hz over the last second
    age: float  # seconds since the last message (accepted or not); negative when none arrived


def check_mapping(
    mapping: Mapping,
    input_features: MappingABC[str, Any],
    output_features: MappingABC[str, Any],
    trained: Mapping | None = None,
) -> list[str]:
    """Why this mapping cannot feed this checkpoint (empty when it can).

    ``input_features``/``output_features`` as in a checkpoint's config.json: name → {"type", "shape"}
    (images channel-first). ``trained``: the mapping the training dataset was recorded with, when the
    checkpoint carries it; joint values must then come in the same order and units (a reordered list or
    another unit has the right shape and would silently feed the policy wrong numbers).
    """
    problems = []
    for name in [*input_features, *output_features]:
        if trained is None or name not in trained.features or name not in mapping.features:
            continue
        was, now = trained.features[name].joints, mapping.features[name].joints
        if was != now:
            problems.append(f"'{name}': trained with joints {list(was)}, the mapping gives {list(now)}")
        was_units, now_units = trained.features[name].units, mapping.features[name].units
        if was_units != now_units:
            problems.append(
                f"'{name}': trained on values in {was_units}, the mapping gives {now_units} (set its units)"
            )
    for name, feature in input_features.items():
        source = mapping.features.get(name)
        if source is None:
            cameras = [n for n in mapping.features if n.startswith("observation.images.")]
            hint = (
                f" (the mapping's cameras: {', '.join(cameras) or 'none'})"
                if feature["type"] == "VISUAL"
                else ""
            )
            problems.append(f"the policy needs '{name}' but the mapping has no such feature{hint}")
        elif feature["type"] != "VISUAL" and len(source.joints) != feature["shape"][0]:
            problems.append(
                f"'{name}': the policy expects {feature['shape'][0]} values, the mapping lists "
                f"{len(source.joints)} joints ({', '.join(source.joints)})"
            )
    for name, feature in output_features.items():
        source = mapping.features.get(name)
        if source is None:
            problems.append(f"the policy outputs '{name}' but the mapping does not say where it goes")
        elif len(source.joints) != feature["shape"][0]:
            problems.append(
                f"'{name}': the policy outputs {feature['shape'][0]} values, the mapping lists "
                f"{len(source.joints)} joints"
            )
    return problems


class ObservationBuffer:
    """Newest sample of each input feature; thread-safe (subscriptions write, the inference thread reads).

    A rejected message (``reject``, or non-finite joint values given to ``update``) makes its stream unusable
    until the next accepted one: a policy must not act on an old value of a stream that now says nonsense.
    """

    def __init__(self, features: list[str], staleness_s: float) -> None:
        self.features = list(features)
        self.staleness_s = staleness_s
        self._samples: dict[str, Sample] = {}
        self._rejected: dict[str, str] = {}
        self._arrivals: dict[str, deque[float]] = {f: deque() for f in self.features}  # the last second's
        self._last_arrival: dict[str, float] = {}
        self._received = dict.fromkeys(self.features, 0)
        self._dropped = dict.fromkeys(self.features, 0)
        self._lock = threading.Lock()

    def update(self, feature: str, value: np.ndarray, stamp: float, received: float) -> str:
        """Store the newest sample of ``feature``; returns why it was rejected (empty when accepted)."""
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            reason = f"non-finite values {np.asarray(value).tolist()}"
            self.reject(feature, reason, received)
            return reason
        with self._lock:
            self._samples[feature] = Sample(value, stamp, received)
            self._rejected.pop(feature, None)
            self._received[feature] += 1
            self._arrived(feature, received)
        return ""

    def reject(self, feature: str, reason: str, received: float) -> None:
        """A message of ``feature`` that cannot be used: the stream is unusable until the next good one."""
        with self._lock:
            self._rejected[feature] = reason
            self._dropped[feature] += 1
            self._arrived(feature, received)

    def _arrived(self, feature: str, received: float) -> None:
        arrivals = self._arrivals[feature]
        arrivals.append(received)
        while arrivals[0] <= received - 1.0:
            arrivals.popleft()
        self._last_arrival[feature] = received

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()
            self._rejected.clear()

    def restart_statistics(self) -> None:
        """Count received and dropped messages from now on (activation)."""
        with self._lock:
            self._received = dict.fromkeys(self.features, 0)
            self._dropped = dict.fromkeys(self.features, 0)

    def statistics(self, now: float) -> dict[str, StreamStatistics]:
        """Every feature's reception statistics at ``now``."""
        with self._lock:
            return {
                f: StreamStatistics(
                    received=self._received[f],
                    dropped=self._dropped[f],
                    rate=float(sum(1 for t in self._arrivals[f] if t > now - 1.0)),
                    age=now - self._last_arrival[f] if f in self._last_arrival else -1.0,
                )
                for f in self.features
            }

    def assemble(self, now: float) -> tuple[dict[str, np.ndarray], float]:
        """Every feature's newest value, and the newest stamp among them (the observation's time).

        Raises StaleObservation naming every stream that is missing, older than the staleness limit or whose
        last message was rejected.
        """
        with self._lock:
            samples = dict(self._samples)
            rejected = dict(self._rejected)
        problems = []
        for feature in self.features:
            sample = samples.get(feature)
            if feature in rejected:
                problems.append(f"{feature}: last message rejected: {rejected[feature]}")
            elif sample is None:
                problems.append(f"{feature}: no message yet")
            elif now - sample.received > self.staleness_s:
                problems.append(
                    f"{feature}: last message {now - sample.received:.2f} s ago "
                    f"(limit {self.staleness_s:.2f} s)"
                )
        if problems:
            raise StaleObservation("; ".join(problems))
        return {f: samples[f].value for f in self.features}, max(samples[f].stamp for f in self.features)


def blank_observation(input_features: MappingABC[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Zeros for every input feature, as the node hands them over (images H×W×C, colour uint8, depth
    uint16): a warm-up request."""
    blank = {}
    for name, feature in input_features.items():
        channels, *size = shape = feature["shape"]
        visual = feature["type"] == "VISUAL"
        blank[name] = (
            np.zeros((*size, channels), expected_dtype(channels)) if visual else np.zeros(shape, np.float32)
        )
    return blank


def last_frames(history: deque, observation: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The last ``history.maxlen`` observed ticks ending with ``observation``, oldest first; the oldest is
    repeated until there are enough, as lerobot fills its observation queues."""
    steps = history.maxlen or 1
    seen = list(history)
    frames = (seen if seen and seen[-1] is observation else [*seen, observation])[-steps:]
    return [frames[0]] * (steps - len(frames)) + frames
