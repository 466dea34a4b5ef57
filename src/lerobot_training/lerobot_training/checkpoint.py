"""Checkpoints in lerobot's layout. Everything is JSON or safetensors: loading never unpickles.

    <output_dir>/checkpoints/<step>/pretrained_model/  config.json, model.safetensors, train_config.json,
                                                       policy_{pre,post}processor.json + *.safetensors
    <output_dir>/checkpoints/<step>/training_state/    optimizer_state.safetensors,
                                                       optimizer_param_groups.json, scheduler_state.json,
                                                       rng_state.safetensors, training_step.json,
                                                       rng_state_rank<k>.safetensors (torchrun ranks k ≥ 1),
                                                       grad_scaler_state.json (float16 mixed precision)
    <output_dir>/checkpoints/last -> <step>

``load_pretrained`` takes a ``pretrained_model`` directory (or the step directory above it, or a Hub repo id).
``fit_pretrained_features``, ``make_pretrained_policy`` and ``make_finetune_processors`` start a fine-tuning
run from one (``lerobot-ros-train --policy.path``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save, save_file
from torch import Tensor

from lerobot_training.features import dataset_to_policy_features
from lerobot_training.policies import get_policy_type, make_pre_post_processors
from lerobot_training.policies.base import Policy, PolicyConfig
from lerobot_training.processor import POSTPROCESSOR_NAME, PREPROCESSOR_NAME, PolicyProcessor
from lerobot_training.run_state import RunState

CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT_LINK = "last"
PRETRAINED_MODEL_DIR = "pretrained_model"
TRAINING_STATE_DIR = "training_state"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TRAIN_CONFIG_NAME = "train_config.json"
# The mapping of the dataset a policy was trained on (lerobot_dataset.mapping), for deployment checks.
CHECKPOINT_MAPPING_NAME = "lerobot_ros_mapping.yaml"
OPTIMIZER_STATE_NAME = "optimizer_state.safetensors"
OPTIMIZER_PARAM_GROUPS_NAME = "optimizer_param_groups.json"
SCHEDULER_STATE_NAME = "scheduler_state.json"
RNG_STATE_NAME = "rng_state.safetensors"  # rank 0's (lerobot's name); other ranks: see rng_state_name
GRAD_SCALER_STATE_NAME = "grad_scaler_state.json"
TRAINING_STEP_NAME = "training_step.json"

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, or does not fit the policy it is loaded into."""


# -- pretrained_model ---------------------------------------------------------------------------------------


def save_pretrained(
    directory: str | Path,
    policy: Policy,
    preprocessor: PolicyProcessor,
    postprocessor: PolicyProcessor,
    train_config: Mapping[str, Any] | None = None,
) -> Path:
    """Write a ``pretrained_model`` directory that both this package and lerobot load."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / CONFIG_NAME, policy.config.to_dict(), indent=4)
    state = policy.state_dict()
    keep = {names[0] for names in _tied_groups(state)}
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state.items() if name in keep}
    save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    preprocessor.save(directory)
    postprocessor.save(directory)
    if train_config is not None:
        _write_json(directory / TRAIN_CONFIG_NAME, train_config, indent=4)
    return directory


def resolve_pretrained_dir(
    path_or_repo_id: str | Path, revision: str | None = None, local_files_only: bool = False
) -> Path:
    """The local ``pretrained_model`` directory: the path itself, its ``pretrained_model`` subdirectory, or a
    Hugging Face Hub snapshot (JSON and safetensors files only) when the argument is a repo id."""
    path = Path(path_or_repo_id).expanduser()
    if path.exists():
        for candidate in (path, path / PRETRAINED_MODEL_DIR):
            if (candidate / CONFIG_NAME).is_file():
                return candidate
        raise CheckpointError(
            f"{path} holds no {CONFIG_NAME} (nor {PRETRAINED_MODEL_DIR}/{CONFIG_NAME}): point at a "
            f"checkpoint's {PRETRAINED_MODEL_DIR} directory, e.g. "
            f"outputs/run/{CHECKPOINTS_DIR}/{LAST_CHECKPOINT_LINK}"
        )
    if not _REPO_ID.match(str(path_or_repo_id)):
        raise CheckpointError(
            f"{str(path_or_repo_id)!r} is neither a directory nor a Hub repo id 'owner/name'"
        )
    try:
        snapshot = snapshot_download(
            repo_id=str(path_or_repo_id),
            revision=revision,
            allow_patterns=["*.json", "*.safetensors"],
            local_files_only=local_files_only,
        )
    except (OSError, EntryNotFoundError, HFValidationError) as err:
        raise CheckpointError(
            f"{str(path_or_repo_id)!r} is not a local directory, and getting it from the Hugging Face Hub "
            f"failed ({type(err).__name__}: {err}). Check the repo id and the network, or download the "
            "checkpoint elsewhere and pass its local directory."
        ) from err
    return resolve_pretrained_dir(snapshot)


def read_config_json(directory: str | Path) -> dict[str, Any]:
    """The raw config.json of a ``pretrained_model`` directory (it has a ``type``)."""
    path = Path(directory) / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CheckpointError(f"cannot read {path}: {err}") from err
    except ValueError as err:  # not UTF-8 or not JSON
        raise CheckpointError(
            f"{path} is not a JSON text file ({err}); the checkpoint is damaged: use another one or save it "
            "again"
        ) from err
    if not isinstance(data, dict) or "type" not in data:
        raise CheckpointError(f"{path} has no 'type' key: it is not a policy config.json")
    return data


def load_policy_config(directory: str | Path, device: str | None = None) -> PolicyConfig:
    """The policy config of a ``pretrained_model`` directory (``device`` overrides the saved one)."""
    data = read_config_json(directory)
    if device is not None:
        data["device"] = device
    return get_policy_type(data["type"]).config_class.from_dict(data)


def load_weights(policy: Policy, path: str | Path, built_from: str = "its config.json") -> None:
    """Load ``model.safetensors`` into ``policy``; a missing, extra or reshaped tensor is a named error.
    ``built_from`` says where the policy's config came from, for that error."""
    path = Path(path)
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as err:
        raise CheckpointError(f"cannot read weights {path}: {err}") from err
    _fill_alternate_weights(policy, tensors, path)
    expected = policy.state_dict()
    # A weight shared by several names (tied) is stored once; loading one name fills the others.
    stored_elsewhere = {
        name for names in _tied_groups(expected) if any(n in tensors for n in names) for name in names
    }
    missing = [name for name in expected if name not in tensors and name not in stored_elsewhere]
    unexpected = [name for name in tensors if name not in expected]
    reshaped = [
        f"{name}: {list(tensors[name].shape)} in the file, {list(tensor.shape)} in the policy"
        for name, tensor in expected.items()
        if name in tensors and tensors[name].shape != tensor.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing from the file: {_first(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} tensor(s) the policy does not have: {_first(unexpected)}")
    if reshaped:
        problems.append(f"{len(reshaped)} tensor(s) with another shape: {_first(reshaped)}")
    if problems:
        raise CheckpointError(
            f"{path} does not fit the {policy.config.type} policy built from {built_from}: "
            + "; ".join(problems)
            + ". The weights come from another policy, configuration or dataset (feature shapes)."
        )
    policy.load_state_dict(tensors, strict=not stored_elsewhere.difference(tensors))


def _fill_alternate_weights(policy: Policy, tensors: dict[str, Tensor], path: Path) -> None:
    """Apply the policy's ``alternate_weights`` ({name: the file's name to take it from when the file lacks
    it}) to the file's ``tensors``, in place. π₀'s lm_head and token embedding were one tied weight in older
    files (stored once); lerobot 0.6.1 stores them apart, and its fine-tuning changes the embedding only: a
    file with both keeps both as they are, and a difference is reported."""
    for name, source in policy.alternate_weights.items():
        if name in tensors and source in tensors and name < source:  # each pair once
            first, second = tensors[name], tensors[source]
            if first.shape == second.shape and not torch.equal(first, second):
                logger.warning(
                    "%s holds different %s and %s (as after fine-tuning in lerobot, which trains the token "
                    "embedding but never the unused lm_head): both are loaded as the file holds them",
                    path,
                    name,
                    source,
                )
        elif name not in tensors and source in tensors:
            logger.info("%s lacks %s (a tied weight stored once): it takes %s", path, name, source)
            tensors[name] = tensors[source].clone()


def _tied_groups(state: Mapping[str, Tensor]) -> list[list[str]]:
    """Names grouped by the tensor they share (most groups have one name), each group sorted. The first name
    is the one safetensors' ``save_model`` keeps, hence what lerobot's files hold for a tied weight."""
    groups: dict[tuple, list[str]] = {}
    for name, tensor in state.items():
        shared = tensor.numel() > 0 and tensor.device.type != "meta"
        key = (
            (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
            if shared
            else (name,)
        )
        groups.setdefault(key, []).append(name)
    return [sorted(names) for names in groups.values()]


def load_pretrained(
    path_or_repo_id: str | Path,
    *,
    revision: str | None = None,
    device: str | None = None,
    local_files_only: bool = False,
) -> tuple[Policy, PolicyProcessor, PolicyProcessor]:
    """(policy in eval mode, preprocessor, postprocessor) from a ``pretrained_model`` directory or repo id."""
    directory = resolve_pretrained_dir(path_or_repo_id, revision, local_files_only)
    config = load_policy_config(directory, device)
    policy = _build_for_weights(config)
    load_weights(policy, directory / WEIGHTS_NAME)
    policy.to(config.device).eval()
    preprocessor = load_processor(directory, PREPROCESSOR_NAME).to(config.device)
    postprocessor = load_processor(directory, POSTPROCESSOR_NAME)
    return policy, preprocessor, postprocessor


def load_processor(directory: Path, name: str) -> PolicyProcessor:
    """The processor ``name`` of a ``pretrained_model`` directory; its state files (normalization statistics)
    are read as safetensors only, so a pickle or any other format under their names is refused, never run."""
    try:
        return PolicyProcessor.load(directory, name)
    except SafetensorError as err:
        unreadable = [
            path.name for path in sorted(directory.glob(f"{name}_*.safetensors")) if not _is_safetensors(path)
        ]
        files = ", ".join(unreadable) or f"a state file {name}.json lists"
        raise CheckpointError(
            f"{directory}: {files} is not a safetensors file ({err}); it was not loaded. Use the processor "
            "files save_pretrained wrote with this checkpoint"
        ) from err


def _is_safetensors(path: Path) -> bool:
    try:
        with safe_open(str(path), framework="pt"):
            return True
    except (OSError, SafetensorError):
        return False


def _build_for_weights(config: PolicyConfig) -> Policy:
    """The policy for ``config`` on the CPU, about to receive a file's weights."""
    # The file's weights replace the backbone's, so do not download pretrained backbone weights to build it.
    backbone_weights = config.pretrained_backbone_weights
    if backbone_weights is not None:
        config.pretrained_backbone_weights = None
    try:
        return get_policy_type(config.type).policy_class(config)
    finally:
        if backbone_weights is not None:
            config.pretrained_backbone_weights = backbone_weights


# -- fine-tuning --------------------------------------------------------------------------------------------


def fit_pretrained_features(
    config: PolicyConfig, dataset_features: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Refit a pretrained policy's config (its features describe the checkpoint's dataset) to the dataset it
    is fine-tuned on, in place; returns what it did, for the training log.

    The config's ``fit_pretrained_features`` says how: ACT's and Diffusion's weights are sized by the
    features, so the dataset must have each of them with its shape; π₀ pads state and action, and fills its
    image slots with any cameras.
    """
    return config.fit_pretrained_features(dataset_to_policy_features(dataset_features))


def make_pretrained_policy(config: PolicyConfig, directory: str | Path) -> Policy:
    """The policy for ``config`` (refit to the dataset by ``fit_pretrained_features``) with the weights of
    ``directory``'s model.safetensors, on ``config.device``, for fine-tuning.

    Loading is strict: every tensor must be in the file with the shape the policy has, or the error names it
    (e.g. a command-line option that resizes the model). With ``use_peft``, a plain checkpoint (e.g.
    lerobot/pi0_base) is fine-tuned through LoRA adapters added after its weights are in (``add_adapters``).
    """
    directory = Path(directory)
    saved_peft = bool(read_config_json(directory).get("use_peft", False))
    if saved_peft and not config.use_peft:
        raise CheckpointError(
            f"{directory} was trained with LoRA adapters (use_peft=true) and its weights keep peft's names: "
            "fine-tune it with --policy.use_peft=true"
        )
    add_adapters = config.use_peft and not saved_peft
    config.use_peft = saved_peft  # build with the file's names: a plain file loads into a plain policy
    try:
        policy = _build_for_weights(config)
        load_weights(policy, directory / WEIGHTS_NAME, "its config.json refit to the dataset and the options")
    finally:
        config.use_peft = saved_peft or add_adapters
    if add_adapters:
        policy.add_adapters()
    return policy.to(config.device)


def make_finetune_processors(
    config: PolicyConfig, dataset_stats: Mapping[str, Mapping[str, Any]], directory: str | Path
) -> tuple[PolicyProcessor, PolicyProcessor, list[str]]:
    """(preprocessor, postprocessor, notes for the log) of a fine-tuning run: normalization statistics from
    the new dataset, the rest as the policy's ``fit_pretrained_preprocessor`` takes it from the checkpoint
    (π₀: its tokenizer)."""
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats)
    notes = ["normalization statistics: this dataset's meta/stats.json (not the pretrained checkpoint's)"]
    policy_class = get_policy_type(config.type).policy_class
    notes += policy_class.fit_pretrained_preprocessor(preprocessor, Path(directory))
    return preprocessor, postprocessor, notes


# -- training checkpoints -----------------------------------------------------------------------------------


def checkpoint_dir_name(step: int, total_steps: int) -> str:
    """Zero-padded step (at least 6 digits) so that checkpoint directories sort by step, as in lerobot."""
    return f"{step:0{max(6, len(str(total_steps)))}d}"


def save_checkpoint(run: RunState, rng_states: Sequence[bytes] | None = None) -> Path:
    """Write ``run``'s ``checkpoints/<step>/{pretrained_model,training_state}`` under its output directory
    and point ``checkpoints/last`` at it.
    ``rng_states`` are every process's ``rng_state_bytes()`` in rank order (default: this process's alone).

    The step directory is written under a temporary name and renamed when complete, so an interrupted save
    never leaves a directory that looks like a checkpoint.
    """
    checkpoints = Path(run.output_dir) / CHECKPOINTS_DIR
    final = checkpoints / checkpoint_dir_name(run.step, run.total_steps)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    pretrained_dir = partial / PRETRAINED_MODEL_DIR
    save_pretrained(pretrained_dir, run.policy, run.preprocessor, run.postprocessor, run.train_config)
    save_training_state(partial / TRAINING_STATE_DIR, run, rng_states)
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    link = checkpoints / LAST_CHECKPOINT_LINK
    temporary_link = checkpoints / f"{LAST_CHECKPOINT_LINK}.partial"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(final.name, target_is_directory=True)
    os.replace(temporary_link, link)
    return final


def save_training_state(
    directory: str | Path, run: RunState, rng_states: Sequence[bytes] | None = None
) -> None:
    """``run``'s optimizer, scheduler, loss scaler and step plus the RNG states: everything needed to resume
    bit for bit. ``rng_states``: every process's ``rng_state_bytes()`` in rank order (default: this
    process's)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    optimizer, scheduler, scaler = run.optimizer, run.scheduler, run.precision.scaler
    state = optimizer.state_dict()
    tensors = {}
    for index, param_state in state["state"].items():
        for name, value in param_state.items():
            if not isinstance(value, Tensor):
                raise CheckpointError(
                    f"optimizer {type(optimizer).__name__} keeps non-tensor state {name!r}; only tensor "
                    "state can be stored in safetensors"
                )
            tensors[f"state.{index}.{name}"] = value.detach().cpu().contiguous()
    save_file(tensors, str(directory / OPTIMIZER_STATE_NAME))
    _write_json(directory / OPTIMIZER_PARAM_GROUPS_NAME, state["param_groups"], indent=2)
    if scheduler is not None:
        _write_json(directory / SCHEDULER_STATE_NAME, scheduler.state_dict(), indent=2)
    scaler_state = scaler.state_dict() if scaler is not None else {}
    if scaler_state:  # empty for a disabled scaler, which has nothing to restore
        _write_json(directory / GRAD_SCALER_STATE_NAME, scaler_state, indent=2)
    for rank, content in enumerate(rng_states if rng_states is not None else [rng_state_bytes()]):
        (directory / rng_state_name(rank)).write_bytes(content)
    _write_json(directory / TRAINING_STEP_NAME, {"step": run.step}, indent=2)


def load_training_state(checkpoint_dir: str | Path, run: RunState, rank: int = 0) -> None:
    """Restore ``run``'s optimizer, scheduler, loss scaler and step, and this process's (``rank``'s) RNG
    states, from a step directory (or its training_state). Load the weights into ``run.policy`` first
    (``load_weights`` of its pretrained_model) and build the optimizer over them.
    """
    optimizer, scheduler, scaler = run.optimizer, run.scheduler, run.precision.scaler
    directory = Path(checkpoint_dir)
    if (directory / TRAINING_STATE_DIR).is_dir():
        directory = directory / TRAINING_STATE_DIR
    required = [OPTIMIZER_STATE_NAME, OPTIMIZER_PARAM_GROUPS_NAME, RNG_STATE_NAME, TRAINING_STEP_NAME]
    if scheduler is not None:
        required.append(SCHEDULER_STATE_NAME)
    missing = [name for name in required if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(f"{directory} lacks {missing}: not a complete training_state directory")
    state: dict[int, dict[str, Tensor]] = {}
    for key, tensor in load_file(str(directory / OPTIMIZER_STATE_NAME)).items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = tensor
    param_groups = json.loads((directory / OPTIMIZER_PARAM_GROUPS_NAME).read_text())
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except (ValueError, KeyError) as err:
        raise CheckpointError(
            f"optimizer state in {directory} does not fit this optimizer ({err}); resume with the policy "
            "config and optimizer preset the checkpoint was trained with"
        ) from err
    if scheduler is not None:
        scheduler.load_state_dict(json.loads((directory / SCHEDULER_STATE_NAME).read_text()))
    # A run without loss scaling (float32, bfloat16) has no scaler state: a scaler then starts afresh.
    if scaler is not None and (directory / GRAD_SCALER_STATE_NAME).is_file():
        scaler.load_state_dict(json.loads((directory / GRAD_SCALER_STATE_NAME).read_text()))
    rng_path = directory / rng_state_name(rank)
    if rng_path.is_file():
        _set_rng_state(rng_path)
    else:
        # Saved by fewer processes: rank 0's streams, torch's reseeded so that ranks draw different noise.
        logger.warning(
            "%s lacks %s (saved by fewer processes): rank %d continues with new random streams, so the run "
            "differs from an uninterrupted one",
            directory,
            rng_path.name,
            rank,
        )
        _set_rng_state(directory / RNG_STATE_NAME)
        torch.manual_seed(int(torch.randint(2**62, ())) + rank)
    run.step = int(json.loads((directory / TRAINING_STEP_NAME).read_text())["step"])


def rng_state_name(rank: int) -> str:
    """The file of process ``rank``'s RNG state: lerobot's name for rank 0 (and a single process)."""
    return RNG_STATE_NAME if rank == 0 else f"rng_state_rank{rank}.safetensors"


def rng_state_bytes() -> bytes:
    """This process's RNG states (python, numpy, torch, CUDA device) as the content of a safetensors file:
    bytes, so that rank 0 can gather every rank's and write them into its checkpoint."""
    tensors, meta = _rng_state()
    return save(tensors, metadata={"rng": json.dumps(meta)})


def _rng_state() -> tuple[dict[str, Tensor], dict[str, Any]]:
    version, mt_state, gauss_next = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_cached_gaussian = np.random.get_state()
    tensors = {
        "py_rng_state": torch.tensor(mt_state, dtype=torch.int64),
        "np_rng_state": torch.from_numpy(np_keys.astype(np.int64)),
        "torch_rng_state": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        tensors["torch_cuda_rng_state"] = torch.cuda.get_rng_state()
    meta = {
        "py_version": version,
        "py_gauss_next": gauss_next,
        "np_pos": int(np_pos),
        "np_has_gauss": int(np_has_gauss),
        "np_cached_gaussian": float(np_cached_gaussian),
    }
    return tensors, meta


def _set_rng_state(path: Path) -> None:
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["rng"])
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    random.setstate((meta["py_version"], tuple(tensors["py_rng_state"].tolist()), meta["py_gauss_next"]))
    np.random.set_state(
        (
            "MT19937",
            tensors["np_rng_state"].numpy().astype(np.uint32),
            meta["np_pos"],
            meta["np_has_gauss"],
            meta["np_cached_gaussian"],
        )
    )
    torch.set_rng_state(tensors["torch_rng_state"])
    if "torch_cuda_rng_state" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["torch_cuda_rng_state"])


def _write_json(path: Path, data: Any, indent: int) -> None:
    path.write_text(json.dumps(data, indent=indent) + "\n")


def _first(items: list[str], count: int = 5) -> str:
    shown = ", ".join(items[:count])
    return shown + (f", ... ({len(items) - count} more)" if len(items) > count else "")
