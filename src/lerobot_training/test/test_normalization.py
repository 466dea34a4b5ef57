"""Normalization modes (hand-computed values) and the processor pipelines that apply them."""

import pytest
import torch

from lerobot_training.features import FeatureType, PolicyFeature
from lerobot_training.normalization import (
    NormalizationMode,
    NormalizerStep,
    StatsError,
    flatten_stats,
    normalize,
    unflatten_stats,
    unnormalize,
)
from lerobot_training.policies import fit_features_to_dataset, make_policy_config, make_pre_post_processors
from lerobot_training.processor import PolicyProcessor, ProcessorError

STATS = {
    "mean": torch.tensor([1.0, -2.0]),
    "std": torch.tensor([2.0, 0.5]),
    "min": torch.tensor([0.0, -4.0]),
    "max": torch.tensor([4.0, -4.0]),  # second dimension constant
    "q01": torch.tensor([-1.0, 0.0]),
    "q99": torch.tensor([3.0, 10.0]),
    "q10": torch.tensor([0.0, 2.0]),
    "q90": torch.tensor([2.0, 6.0]),
}
X = torch.tensor([[3.0, -4.0]])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (NormalizationMode.MEAN_STD, [(3 - 1) / (2 + 1e-8), (-4 + 2) / (0.5 + 1e-8)]),
        # [-1, 1] between min and max; a constant dimension maps to -1 (span replaced by eps).
        (NormalizationMode.MIN_MAX, [2 * 3 / 4 - 1, -1.0]),
        (NormalizationMode.QUANTILES, [2 * (3 + 1) / 4 - 1, 2 * (-4 - 0) / 10 - 1]),
        (NormalizationMode.QUANTILE10, [2 * (3 - 0) / 2 - 1, 2 * (-4 - 2) / 4 - 1]),
        (NormalizationMode.IDENTITY, [3.0, -4.0]),
    ],
)
def test_modes_by_hand_and_inverse(mode, expected):
    normalized = normalize(X, mode, STATS)
    torch.testing.assert_close(normalized, torch.tensor([expected]))
    torch.testing.assert_close(unnormalize(normalized, mode, STATS), X)


def test_stats_flatten_to_lerobot_keys_and_back():
    stats = {"observation.images.front": {"mean": [[[0.1]], [[0.2]], [[0.3]]]}, "action": {"count": [7]}}
    flat = flatten_stats(stats)
    assert set(flat) == {"observation.images.front.mean", "action.count"}
    assert flat["observation.images.front.mean"].shape == (3, 1, 1)
    assert flat["action.count"].dtype == torch.float32
    assert set(unflatten_stats(flat)["observation.images.front"]) == {"mean"}


def test_missing_statistic_is_an_error_naming_it():
    features = {"observation.state": PolicyFeature(FeatureType.STATE, (2,))}
    stats = {"observation.state": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}}
    NormalizerStep.from_dataset_stats(features, {"STATE": NormalizationMode.MEAN_STD}, stats)
    with pytest.raises(StatsError, match=r"observation\.state\.q01"):
        NormalizerStep.from_dataset_stats(features, {"STATE": NormalizationMode.QUANTILES}, stats)


def test_pipelines_normalize_batch_and_unnormalize_action(helpers, tmp_path):
    features = helpers.dataset_features(state_dim=2, action_dim=2, cameras={"front": (4, 4)})
    stats = helpers.dataset_stats(features)
    config = make_policy_config("diffusion", **helpers.tiny_diffusion_options())
    fit_features_to_dataset(config, features)
    preprocessor, postprocessor = make_pre_post_processors(config, stats)

    state, image = torch.tensor([0.5, -0.5]), torch.rand(3, 4, 4)
    out = preprocessor({"observation.state": state, "observation.images.front": image, "task": "pick"})
    assert out["observation.state"].shape == (1, 2) and out["observation.images.front"].shape == (1, 3, 4, 4)
    assert out["task"] == ["pick"]
    low, high = (
        torch.tensor(stats["observation.state"]["min"]),
        torch.tensor(stats["observation.state"]["max"]),
    )
    torch.testing.assert_close(out["observation.state"][0], 2 * (state - low) / (high - low) - 1)  # MIN_MAX
    mean = torch.tensor(stats["observation.images.front"]["mean"])
    std = torch.tensor(stats["observation.images.front"]["std"])
    torch.testing.assert_close(out["observation.images.front"][0], (image - mean) / (std + 1e-8))  # MEAN_STD

    action = torch.tensor([[0.0, 1.0]])
    low, high = torch.tensor(stats["action"]["min"]), torch.tensor(stats["action"]["max"])
    torch.testing.assert_close(postprocessor(action), (action + 1) / 2 * (high - low) + low)

    preprocessor.save(tmp_path)
    postprocessor.save(tmp_path)
    loaded_pre = PolicyProcessor.load(tmp_path, "policy_preprocessor")
    loaded_post = PolicyProcessor.load(tmp_path, "policy_postprocessor")
    again = loaded_pre({"observation.state": state, "observation.images.front": image})
    assert torch.equal(again["observation.state"], out["observation.state"])
    assert torch.equal(loaded_post(action), postprocessor(action))


def test_unknown_step_in_a_processor_file_is_an_error(tmp_path):
    (tmp_path / "policy_preprocessor.json").write_text(
        '{"name": "policy_preprocessor", "steps": [{"registry_name": "no_such_processor", "config": {}}]}'
    )
    with pytest.raises(ProcessorError, match="no_such_processor"):
        PolicyProcessor.load(tmp_path, "policy_preprocessor")
    with pytest.raises(ProcessorError, match=r"policy_postprocessor\.json not found"):
        PolicyProcessor.load(tmp_path, "policy_postprocessor")
