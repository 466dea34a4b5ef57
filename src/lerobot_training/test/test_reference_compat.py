"""File compatibility with lerobot 0.6.1: state dicts, config.json and processor files equal the reference
ones (test/reference/, written by the real lerobot for state (6,), one 3×96×128 camera, action (6,))."""

import json

import pytest
import torch
from safetensors import safe_open

from lerobot_training.policies import (
    fit_features_to_dataset,
    get_policy_type,
    make_policy_config,
    make_pre_post_processors,
)
from lerobot_training.policies.base import resolve_device


def build_on_meta(policy_type: str, features: dict) -> torch.nn.Module:
    # Full-size models (52 M and 263 M parameters) on the meta device: real modules and shapes, no memory
    # (and no ImageNet download: the weights do not change names or shapes).
    config = make_policy_config(policy_type, pretrained_backbone_weights=None)
    fit_features_to_dataset(config, features)
    with torch.device("meta"):
        return get_policy_type(policy_type).policy_class(config)


@pytest.mark.parametrize("policy_type", ["act", "diffusion"])
def test_state_dict_names_shapes_dtypes_equal_lerobot(helpers, policy_type):
    reference = [
        (name, helpers.parse_shape(shape), dtype)
        for name, shape, dtype in helpers.read_tsv(f"{policy_type}.state_dict.tsv")
    ]
    policy = build_on_meta(policy_type, helpers.dataset_features())
    ours = [
        (name, tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in policy.state_dict().items()
    ]
    assert [name for name, _, _ in ours] == [name for name, _, _ in reference], "ordered key set differs"
    assert ours == reference


def test_reference_sizes_match_the_published_figures(helpers):
    # Sanity of the reference itself against the spec: ACT ~52 M parameters, Diffusion ~263 M.
    sizes = {}
    for policy_type in ("act", "diffusion"):
        shapes = [
            helpers.parse_shape(shape) for _, shape, _ in helpers.read_tsv(f"{policy_type}.state_dict.tsv")
        ]
        sizes[policy_type] = sum(torch.Size(s).numel() for s in shapes)
    assert 50e6 < sizes["act"] < 53e6
    assert 262e6 < sizes["diffusion"] < 264e6


@pytest.mark.parametrize("policy_type", ["act", "diffusion"])
def test_default_config_json_equals_lerobot(helpers, policy_type):
    reference = json.loads((helpers.REFERENCE_DIR / f"{policy_type}.config.json").read_text())
    # The reference was written with pretrained_backbone_weights=null; lerobot's default (ImageNet
    # weights) is checked against the real lerobot in test/interop/test_checkpoints.py and in test_act.py.
    assert reference["pretrained_backbone_weights"] is None
    config = make_policy_config(policy_type, pretrained_backbone_weights=None)
    fit_features_to_dataset(config, helpers.dataset_features())
    ours = config.to_dict()
    # The one machine-dependent field: `device` is the best device of the machine writing the file (lerobot
    # picks it the same way); the reference was written on a CPU-only machine.
    assert ours.pop("device") == resolve_device(None)
    assert reference.pop("device") == "cpu"
    assert list(ours) == list(reference), "keys or their order differ"
    assert ours == reference


def test_processor_files_equal_lerobot(helpers, tmp_path):
    # The reference dataset had a second camera (wrist) the policy does not use: its stats are still saved.
    features = helpers.dataset_features(cameras={"front": (96, 128), "wrist": (96, 128)})
    stats = helpers.dataset_stats(features)
    config = make_policy_config(
        "act",
        input_features={
            "observation.state": {"type": "STATE", "shape": [6]},
            "observation.images.front": {"type": "VISUAL", "shape": [3, 96, 128]},
        },
    )
    fit_features_to_dataset(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, stats)
    preprocessor.save(tmp_path)
    postprocessor.save(tmp_path)

    expected_tensors: dict[str, dict[str, tuple]] = {}
    for file_name, tensor, shape in helpers.read_tsv("act.processor_tensors.tsv"):
        expected_tensors.setdefault(file_name, {})[tensor] = helpers.parse_shape(shape)
    json_names = {"policy_preprocessor.json", "policy_postprocessor.json"}
    assert {p.name for p in tmp_path.iterdir()} == json_names | set(expected_tensors)

    for name in json_names:
        ours = json.loads((tmp_path / name).read_text())
        reference = json.loads((helpers.REFERENCE_DIR / f"act.{name}").read_text())
        if name == "policy_preprocessor.json":  # device step: the machine's device (see the config test)
            assert ours["steps"][2]["config"].pop("device") == resolve_device(None)
            reference["steps"][2]["config"].pop("device")
        assert ours == reference

    for file_name, tensors in expected_tensors.items():
        with safe_open(str(tmp_path / file_name), framework="pt") as handle:
            ours = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
        assert ours == tensors, file_name
