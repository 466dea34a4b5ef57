"""π₀'s pre/post-processing: lerobot's pipeline (rename → to-batch → task newline → tokenizer → device →
normalize; unnormalize → cpu) with its step names, so the saved processor files read like lerobot's.

The tokenizer is PaliGemma's (``google/paligemma-3b-pt-224`` on the Hub) or any local directory holding a
transformers tokenizer; on a machine without network set ``LEROBOT_PI0_TOKENIZER`` to such a directory (or
pass ``tokenizer_name``). The name used is saved in ``policy_preprocessor.json`` and reused when loading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lerobot_training.features import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS
from lerobot_training.normalization import DEFAULT_EPS, NormalizerStep
from lerobot_training.policies.pi0.config import PI0Config
from lerobot_training.processor import (
    PREPROCESSOR_NAME,
    STEP_TYPES,
    DeviceStep,
    PolicyProcessor,
    ProcessorError,
    RenameObservationsStep,
    ToBatchStep,
    make_normalizing_processors,
)

DEFAULT_TOKENIZER = "google/paligemma-3b-pt-224"
TOKENIZER_ENV = "LEROBOT_PI0_TOKENIZER"
TASK_KEY = "task"


class NewLineStep:
    """Ends every task text with a newline, as PaliGemma was trained to read prompts."""

    registry_name = "pi0_new_line_processor"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        task = batch.get(TASK_KEY)
        if task is None:
            return batch
        texts = [task] if isinstance(task, str) else list(task)
        return {**batch, TASK_KEY: [text if text.endswith("\n") else f"{text}\n" for text in texts]}

    def get_config(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state: Mapping[str, Tensor]) -> NewLineStep:
        return cls()


class TokenizerStep:
    """``batch['task']`` (list of str) → ``observation.language.tokens`` (B, max_length) int64 and
    ``observation.language.attention_mask`` (B, max_length) bool, padded on the right to max_length."""

    registry_name = "tokenizer_processor"

    def __init__(
        self, tokenizer_name: str = DEFAULT_TOKENIZER, max_length: int = 48, task_key: str = TASK_KEY
    ) -> None:
        self.tokenizer_name = tokenizer_name
        self.max_length = max_length
        self.task_key = task_key
        self._tokenizer: Any = None  # loaded on first use: building a pipeline needs no network

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            # lerobot's files name PaliGemma's tokenizer by Hub id; $LEROBOT_PI0_TOKENIZER is a local copy.
            name = self.tokenizer_name
            if name == DEFAULT_TOKENIZER and os.environ.get(TOKENIZER_ENV):
                name = os.environ[TOKENIZER_ENV]
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(name)
            except (OSError, ValueError) as err:
                raise ProcessorError(
                    f"cannot load the π₀ tokenizer {name!r} ({err}). Without network access, "
                    f"copy PaliGemma's tokenizer files ({DEFAULT_TOKENIZER}) into a directory and set "
                    f"{TOKENIZER_ENV} to it, or fix tokenizer_name in policy_preprocessor.json."
                ) from err
        return self._tokenizer

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        task = batch.get(self.task_key)
        if task is None:
            raise ProcessorError(
                f"π₀ needs the task text: set batch[{self.task_key!r}] to a string (or a list of strings, "
                "one per sample)"
            )
        texts = [task] if isinstance(task, str) else list(task)
        encoded = self.tokenizer(
            texts,
            max_length=self.max_length,
            padding="max_length",
            truncation=True,
            padding_side="right",
            return_tensors="pt",
        )
        return {
            **batch,
            OBS_LANGUAGE_TOKENS: encoded["input_ids"].to(torch.int64),
            OBS_LANGUAGE_ATTENTION_MASK: encoded["attention_mask"].to(torch.bool),
        }

    def get_config(self) -> dict[str, Any]:
        return {
            "tokenizer_name": self.tokenizer_name,
            "max_length": self.max_length,
            "task_key": self.task_key,
            "padding_side": "right",
            "padding": "max_length",
            "truncation": True,
        }

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state: Mapping[str, Tensor]) -> TokenizerStep:
        return cls(
            config.get("tokenizer_name", DEFAULT_TOKENIZER),
            int(config.get("max_length", 48)),
            config.get("task_key", TASK_KEY),
        )


class RelativeActionsStep:
    """lerobot 0.6's relative-action step (actions relative to the state, ``use_relative_actions``), which its
    π₀ processor files always list. Only the disabled step is supported: it passes the batch through."""

    registry_name = "relative_actions_processor"

    def __init__(self, enabled: bool = False, config: Mapping[str, Any] | None = None) -> None:
        if enabled:
            raise ProcessorError(
                f"{self.registry_name} is enabled (use_relative_actions): relative actions are not supported "
                "by this package yet"
            )
        self.config = dict(config or {"enabled": False})

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return batch

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state: Mapping[str, Tensor]) -> RelativeActionsStep:
        return cls(bool(config.get("enabled", False)), config)


class AbsoluteActionsStep(RelativeActionsStep):
    """The postprocessor's counterpart of ``RelativeActionsStep``; likewise only disabled."""

    registry_name = "absolute_actions_processor"


# Saved pipelines name these steps; register them so PolicyProcessor.load can rebuild a π₀ preprocessor.
for _step in (NewLineStep, TokenizerStep, RelativeActionsStep, AbsoluteActionsStep):
    STEP_TYPES.setdefault(_step.registry_name, _step)


def choose_tokenizer(pretrained_dir: Path) -> tuple[str, str]:
    """(tokenizer name, why that one) for fine-tuning the π₀ in ``pretrained_dir``: $LEROBOT_PI0_TOKENIZER
    when set (it names a local copy, e.g. on a machine without network), else the tokenizer the checkpoint's
    policy_preprocessor.json names (the one its weights were trained with), else PaliGemma's."""
    if os.environ.get(TOKENIZER_ENV):
        return os.environ[TOKENIZER_ENV], f"${TOKENIZER_ENV}"
    path = pretrained_dir / f"{PREPROCESSOR_NAME}.json"
    if path.is_file():
        try:
            steps = json.loads(path.read_text()).get("steps", [])
        except (json.JSONDecodeError, AttributeError) as err:
            raise ProcessorError(f"{path} is not a processor pipeline file: {err}") from err
        for entry in steps:
            name = entry.get("config", {}).get("tokenizer_name")
            if entry.get("registry_name") == TokenizerStep.registry_name and name:
                return name, f"named by the pretrained checkpoint's {path.name}"
    return DEFAULT_TOKENIZER, f"PaliGemma's: the checkpoint names none and ${TOKENIZER_ENV} is unset"


def make_pi0_processors(
    config: PI0Config, dataset_stats: Mapping[str, Mapping[str, Any]], tokenizer_name: str | None = None
) -> tuple[PolicyProcessor, PolicyProcessor]:
    """(preprocessor, postprocessor) for a π₀ policy, from the dataset's meta/stats.json content.
    ``tokenizer_name``: Hub id or local directory (default: $LEROBOT_PI0_TOKENIZER, else PaliGemma's)."""
    tokenizer_name = tokenizer_name or os.environ.get(TOKENIZER_ENV) or DEFAULT_TOKENIZER
    _, postprocessor = make_normalizing_processors(
        config.input_features,
        config.output_features,
        config.normalization_mapping,
        dataset_stats,
        config.device,
    )
    features = {**config.input_features, **config.output_features}
    preprocessor = PolicyProcessor(
        PREPROCESSOR_NAME,
        [
            RenameObservationsStep(),
            ToBatchStep(),
            NewLineStep(),
            TokenizerStep(tokenizer_name, config.tokenizer_max_length),
            DeviceStep(config.device),
            NormalizerStep.from_dataset_stats(
                features, config.normalization_mapping, dataset_stats, DEFAULT_EPS
            ),
        ],
    )
    return preprocessor, postprocessor
