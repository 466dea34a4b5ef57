"""Pre/post-processing pipelines saved next to a checkpoint, in lerobot's file layout.

``policy_preprocessor.json`` lists the steps (rename → to-batch → device → normalize) with their config;
``policy_postprocessor.json`` lists unnormalize → device(cpu). A step with state (the normalization
statistics) writes it to ``<pipeline>_step_<i>_<registry_name>.safetensors``. Loading reads JSON and
safetensors only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from lerobot_training.features import ACTION, OBS_ENV_STATE, OBS_IMAGE_PREFIX, OBS_STATE, PolicyFeature
from lerobot_training.normalization import DEFAULT_EPS, NormalizationMode, NormalizerStep, UnnormalizerStep

PREPROCESSOR_NAME = "policy_preprocessor"
POSTPROCESSOR_NAME = "policy_postprocessor"


class ProcessorError(ValueError):
    """A processor file is missing, malformed or names a step this package does not have."""


class ProcessorStep(Protocol):
    registry_name: ClassVar[str]

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]: ...

    def get_config(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Tensor]: ...


class RenameObservationsStep:
    """Renames batch keys (a camera called differently at deployment than in the dataset)."""

    registry_name = "rename_observations_processor"

    def __init__(self, rename_map: Mapping[str, str] | None = None) -> None:
        self.rename_map = dict(rename_map or {})

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {self.rename_map.get(key, key): value for key, value in batch.items()}

    def get_config(self) -> dict[str, Any]:
        return {"rename_map": dict(self.rename_map)}

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state: Mapping[str, Tensor]) -> RenameObservationsStep:
        return cls(config.get("rename_map"))


class ToBatchStep:
    """Adds the batch dimension to a single observation (state (D,) → (1, D), image (C,H,W) → (1, C,H,W))."""

    registry_name = "to_batch_processor"
    _VECTOR_KEYS = (OBS_STATE, OBS_ENV_STATE, ACTION)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = dict(batch)
        for key, value in batch.items():
            if not isinstance(value, Tensor):
                if key == "task" and isinstance(value, str):
                    out[key] = [value]
                continue
            if (key in self._VECTOR_KEYS and value.ndim == 1) or (
                key.startswith(OBS_IMAGE_PREFIX) and value.ndim == 3
            ):
                out[key] = value.unsqueeze(0)
        return out

    def get_config(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state: Mapping[str, Tensor]) -> ToBatchStep:
        return cls()


class DeviceStep:
    """Moves tensors to a device and optionally casts floating-point tensors (``float_dtype``)."""

    registry_name = "device_processor"

    def __init__(self, device: str = "cpu", float_dtype: str | None = None) -> None:
        self.device = device
        self.float_dtype = float_dtype
        if float_dtype is not None and not isinstance(getattr(torch, float_dtype, None), torch.dtype):
            raise ProcessorError(f"device_processor float_dtype {float_dtype!r} is not a torch dtype name")

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        dtype = getattr(torch, self.float_dtype) if self.float_dtype else None
        out = {}
        for key, value in batch.items():
            if isinstance(value, Tensor):
                value = value.to(self.device, non_blocking=True)
                if dtype is not None and value.is_floating_point():
                    value = value.to(dtype)
            out[key] = value
        return out

    def get_config(self) -> dict[str, Any]:
        return {"device": self.device, "float_dtype": self.float_dtype}

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state: Mapping[str, Tensor]) -> DeviceStep:
        return cls(config.get("device", "cpu"), config.get("float_dtype"))


STEP_TYPES: dict[str, Any] = {
    step.registry_name: step
    for step in (RenameObservationsStep, ToBatchStep, DeviceStep, NormalizerStep, UnnormalizerStep)
}


class PolicyProcessor:
    """An ordered list of steps over a batch dict. Called with a bare tensor, it treats it as the action
    (the postprocessor's input is the policy's action) and returns a tensor."""

    def __init__(self, name: str, steps: Sequence[ProcessorStep]) -> None:
        self.name = name
        self.steps = list(steps)

    def __call__(self, data: dict[str, Any] | Tensor) -> dict[str, Any] | Tensor:
        batch = {ACTION: data} if isinstance(data, Tensor) else dict(data)
        for step in self.steps:
            batch = step(batch)
        return batch[ACTION] if isinstance(data, Tensor) else batch

    def to(self, device: str) -> PolicyProcessor:
        """Send this pipeline's output to ``device`` (its device step), e.g. when loaded elsewhere."""
        for step in self.steps:
            if isinstance(step, DeviceStep):
                step.device = device
        return self

    def state_file_name(self, index: int, step: ProcessorStep) -> str:
        return f"{self.name}_step_{index}_{step.registry_name}.safetensors"

    def save(self, directory: str | Path) -> list[Path]:
        """Write ``<name>.json`` and one safetensors file per stateful step; return the paths written."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        entries = []
        for index, step in enumerate(self.steps):
            entry: dict[str, Any] = {"registry_name": step.registry_name, "config": step.get_config()}
            state = step.state_dict()
            if state:
                entry["state_file"] = self.state_file_name(index, step)
                path = directory / entry["state_file"]
                save_file({k: v.contiguous() for k, v in sorted(state.items())}, str(path))
                written.append(path)
            entries.append(entry)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps({"name": self.name, "steps": entries}, indent=2) + "\n")
        written.append(path)
        return written

    @classmethod
    def load(cls, directory: str | Path, name: str) -> PolicyProcessor:
        directory = Path(directory)
        path = directory / f"{name}.json"
        if not path.is_file():
            raise ProcessorError(
                f"{path} not found: a checkpoint needs its processor files (normalization statistics); "
                "save it with lerobot_training.checkpoint.save_pretrained"
            )
        try:
            spec = json.loads(path.read_text())
            entries = spec["steps"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ProcessorError(f"{path} is not a processor file ({err})") from err
        steps = []
        for index, entry in enumerate(entries):
            step_type = STEP_TYPES.get(entry.get("registry_name"))
            if step_type is None:
                raise ProcessorError(
                    f"{path}: step {index} is {entry.get('registry_name')!r}, which this package does not "
                    f"implement (known steps: {sorted(STEP_TYPES)})"
                )
            state = {}
            if "state_file" in entry:
                state_path = directory / entry["state_file"]
                if not state_path.is_file():
                    raise ProcessorError(f"{path}: step {index} needs {state_path}, which is missing")
                state = load_file(str(state_path))
            steps.append(step_type.from_config(entry.get("config", {}), state))
        return cls(spec.get("name", name), steps)


def make_normalizing_processors(
    input_features: Mapping[str, PolicyFeature],
    output_features: Mapping[str, PolicyFeature],
    normalization_mapping: Mapping[str, NormalizationMode],
    dataset_stats: Mapping[str, Mapping[str, Any]],
    device: str,
    rename_map: Mapping[str, str] | None = None,
) -> tuple[PolicyProcessor, PolicyProcessor]:
    """lerobot's standard pair: normalize inputs and action before the policy, unnormalize the action
    after."""
    preprocessor = PolicyProcessor(
        PREPROCESSOR_NAME,
        [
            RenameObservationsStep(rename_map),
            ToBatchStep(),
            DeviceStep(device),
            NormalizerStep.from_dataset_stats(
                {**input_features, **output_features}, normalization_mapping, dataset_stats, DEFAULT_EPS
            ),
        ],
    )
    postprocessor = PolicyProcessor(
        POSTPROCESSOR_NAME,
        [
            UnnormalizerStep.from_dataset_stats(
                output_features, normalization_mapping, dataset_stats, DEFAULT_EPS
            ),
            DeviceStep("cpu"),
        ],
    )
    return preprocessor, postprocessor
