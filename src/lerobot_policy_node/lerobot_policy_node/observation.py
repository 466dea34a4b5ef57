"""Live observations for a policy: the newest sample per stream, checked for staleness and against the
features the checkpoint was trained on."""

from __future__ import annotations

import threading
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

import numpy as np

from lerobot_dataset.mapping import Mapping


class StaleObservation(RuntimeError):
    """An input stream is missing or too old to act on; the message says which and for how long."""


@dataclass(frozen=True)
class Sample:
    value: np.ndarray
    stamp: float  # seconds: header stamp, or receive time
    received: float  # seconds, node clock


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
    """Newest sample of each input feature; thread-safe (subscriptions write, the inference thread reads)."""

    def __init__(self, features: list[str], staleness_s: float) -> None:
        self.features = list(features)
        self.staleness_s = staleness_s
        self._samples: dict[str, Sample] = {}
        self._lock = threading.Lock()

    def update(self, feature: str, value: np.ndarray, stamp: float, received: float) -> None:
        with self._lock:
            self._samples[feature] = Sample(value, stamp, received)

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def assemble(self, now: float) -> tuple[dict[str, np.ndarray], float]:
        """Every feature's newest value, and the newest stamp among them (the observation's time).

        Raises StaleObservation naming every stream that is missing or older than the staleness limit.
        """
        with self._lock:
            samples = dict(self._samples)
        problems = []
        for feature in self.features:
            sample = samples.get(feature)
            if sample is None:
                problems.append(f"{feature}: no message yet")
            elif now - sample.received > self.staleness_s:
                problems.append(
                    f"{feature}: last message {now - sample.received:.2f} s ago "
                    f"(limit {self.staleness_s:.2f} s)"
                )
        if problems:
            raise StaleObservation("; ".join(problems))
        return {f: samples[f].value for f in self.features}, max(samples[f].stamp for f in self.features)
