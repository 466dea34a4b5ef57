"""The training run's configuration, with lerobot's option names (``--dataset.root``, ``--batch_size``...).

The policy section stays a plain dict here (``type`` plus any key of that policy's config) and becomes a
``PolicyConfig`` through the policy registry, so that a policy's keys and defaults live in one place. With
``path`` (lerobot's ``--policy.path``) the base config is a pretrained checkpoint's config.json instead of
the defaults, and the run fine-tunes its weights.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lerobot_training.checkpoint import read_config_json, resolve_pretrained_dir
from lerobot_training.options import OptionError, build_dataclass, coerce, field_types, unknown_key_error
from lerobot_training.policies import POLICY_TYPES, PolicyConfig, get_policy_type, make_policy_config
from lerobot_training.policies.base import ConfigError

# lerobot's --policy.path: the pretrained checkpoint (directory or Hub repo id) to fine-tune.
PATH_KEY = "path"


@dataclasses.dataclass
class ImageTransformsConfig:
    """Camera augmentation while training (lerobot's defaults: up to 3 of these, in random order off)."""

    enable: bool = False
    max_num_transforms: int = 3
    random_order: bool = False
    brightness: tuple[float, float] = (0.8, 1.2)
    contrast: tuple[float, float] = (0.8, 1.2)
    saturation: tuple[float, float] = (0.5, 1.5)
    hue: tuple[float, float] = (-0.05, 0.05)
    sharpness: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "saturation", "hue", "sharpness"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or value[0] > value[1]:
                raise OptionError(f"dataset.image_transforms.{name} must be [low, high], got {list(value)}")
            setattr(self, name, value)
        if not 1 <= self.max_num_transforms <= 5:
            raise OptionError(
                f"dataset.image_transforms.max_num_transforms must be 1..5, got {self.max_num_transforms}"
            )


@dataclasses.dataclass
class DatasetConfig:
    root: str | None = None
    repo_id: str | None = None  # recorded for reference; datasets are read from ``root``
    episodes: list[int] | None = None
    image_transforms: ImageTransformsConfig = dataclasses.field(default_factory=ImageTransformsConfig)


def default_num_workers() -> int:
    return min(4, os.cpu_count() or 1)


@dataclasses.dataclass
class TrainConfig:
    dataset: DatasetConfig = dataclasses.field(default_factory=DatasetConfig)
    policy: dict[str, Any] = dataclasses.field(default_factory=dict)
    output_dir: str | None = None
    job_name: str | None = None
    resume: bool = False
    seed: int = 1000
    num_workers: int = dataclasses.field(default_factory=default_num_workers)
    batch_size: int = 8  # per process: a torchrun of N processes trains on N × batch_size samples a step
    steps: int = 100_000
    log_freq: int = 200
    save_checkpoint: bool = True
    save_freq: int = 20_000
    use_amp: bool = False
    grad_clip_norm: float = 10.0  # lerobot's optimizer presets for ACT and Diffusion clip at 10

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "log_freq", "save_freq"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise OptionError(f"num_workers must be 0 or more, got {self.num_workers}")
        if self.resume and PATH_KEY in self.policy:
            raise OptionError(
                "--policy.path starts a fine-tuning run and --resume=true continues a run from its own "
                "checkpoint: drop --policy.path to resume (the run's config remembers its pretrained_path)"
            )

    def policy_config(self) -> PolicyConfig:
        """The policy section as its policy's config (see ``resolve_policy``)."""
        return self.resolve_policy()[0]

    def resolve_policy(self) -> tuple[PolicyConfig, Path | None]:
        """(policy config, local ``pretrained_model`` directory to fine-tune from, or None).

        Without ``path``: lerobot's defaults under the policy options. With ``path`` (a directory or a Hub
        repo id, fetched at ``pretrained_revision``): the checkpoint's config.json under the policy options,
        with ``pretrained_path`` recording where it came from. Its features still describe the checkpoint's
        dataset; the training run refits them to its own.
        """
        options = parse_policy_section(self.policy)
        path = options.pop(PATH_KEY, None)
        if path is None:
            return make_policy_config(options.pop("type"), **options), None
        # Only a revision given for this run: a config.json's own pretrained_revision is about its parent.
        revision = options.get("pretrained_revision")
        directory = resolve_pretrained_dir(path, revision)
        saved = read_config_json(directory)
        requested = options.pop("type", None)
        if requested is not None and requested != saved["type"]:
            raise OptionError(
                f"--policy.type={requested} but the config.json of --policy.path={path} has type "
                f"{saved['type']!r}: drop --policy.type (the checkpoint's config.json sets it)"
            )
        options = parse_policy_section({**options, "type": saved["type"]})
        local = Path(str(path)).expanduser()
        options["pretrained_path"] = str(directory.resolve()) if local.exists() else str(path)
        options["pretrained_revision"] = revision
        merged = {**saved, **options}
        return make_policy_config(merged.pop("type"), **merged), directory

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        data = dict(data)
        if "policy" in data:
            if not isinstance(data["policy"], Mapping):
                raise OptionError(
                    "option 'policy' is a group: set --policy.type=act and other --policy.<key>"
                )
            data["policy"] = parse_policy_section(data["policy"])
        return build_dataclass(cls, data, "")


def parse_policy_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """The policy options with typed values; an unknown ``type`` or key is an error suggesting close ones.
    With ``path`` and no ``type``, the values stay as given until the checkpoint's config.json names the
    policy (``TrainConfig.resolve_policy`` parses them again then)."""
    section = dict(section)
    name = section.get("type")
    if name is None:
        if section.get(PATH_KEY) is not None:
            return section
        raise OptionError(
            f"choose a policy: --policy.type={'|'.join(sorted(POLICY_TYPES))}, or fine-tune a pretrained one "
            "with --policy.path=DIR_OR_HUB_ID"
        )
    try:
        config_class = get_policy_type(name).config_class
    except ConfigError as err:
        raise OptionError(str(err)) from None
    types_ = field_types(config_class)
    out: dict[str, Any] = {"type": name}
    for key, value in section.items():
        if key == "type":
            continue
        if key == PATH_KEY:
            if value is not None:
                out[key] = str(value)
            continue
        if key not in types_:
            raise unknown_key_error(f"policy.{key}", list(types_), f"the {name} policy config")
        out[key] = coerce(value, types_[key], f"policy.{key}")
    return out


def output_dir_for(config: TrainConfig) -> Path:
    if config.output_dir is None:
        raise OptionError("set --output_dir: checkpoints and logs are written there")
    return Path(config.output_dir).expanduser()
