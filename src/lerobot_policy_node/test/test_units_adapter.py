"""A policy trained on a dataset in other units than radians: it sees those units, the robot gets radians."""

import math
import textwrap
import time

import numpy as np
import pytest
import torch

from lerobot_dataset.features import DEFAULT_FEATURES
from lerobot_dataset.mapping import parse_mapping
from lerobot_dataset.units import mapping_units
from lerobot_policy_node.chunks import make_merger
from lerobot_policy_node.observation import ObservationBuffer, check_mapping
from lerobot_policy_node.policy import LoadedPolicy
from lerobot_policy_node.runner import PolicyRunner
from lerobot_policy_node.safety import SafetyFilter, SafetyLimits
from lerobot_training.checkpoint import CHECKPOINT_MAPPING_NAME, save_pretrained
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors

JOINTS = ["a", "b", "c"]
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [3], "names": JOINTS},
    "observation.environment_state": {"dtype": "float32", "shape": [3], "names": ["x", "y", "z"]},
    "action": {"dtype": "float32", "shape": [3], "names": JOINTS},
    **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
}
STATS = {
    key: {"mean": [0.0] * 3, "std": [1.0] * 3, "min": [-1.0] * 3, "max": [1.0] * 3}
    for key in ("observation.state", "observation.environment_state", "action")
}


def mapping_text(units: str) -> str:
    return textwrap.dedent(
        f"""
        name: arm
        robot_type: so101
        fps: 30
        features:
          observation.state: {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS},
                               units: {units}}}
          observation.environment_state:
            {{topic: /objects, type: std_msgs/msg/Float64MultiArray, joints: [x, y, z]}}
          action: {{topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS},
                    units: {units}}}
        """
    )


@pytest.fixture(scope="module")
def in_degrees(tmp_path_factory) -> LoadedPolicy:
    """A checkpoint whose dataset stored joints in degrees (its mapping travels with it)."""
    config = make_policy_config(
        "diffusion", pretrained_backbone_weights=None, device="cpu", horizon=8, n_action_steps=4,
        down_dims=(32, 64), n_groups=8, kernel_size=3, diffusion_step_embed_dim=32, num_inference_steps=2,
        noise_scheduler_type="DDIM",
    )  # fmt: skip
    policy = make_policy(config, FEATURES)
    directory = save_pretrained(
        tmp_path_factory.mktemp("degrees") / "pm", policy, *make_pre_post_processors(config, STATS)
    )
    (directory / CHECKPOINT_MAPPING_NAME).write_text(mapping_text("degrees"))
    loaded = LoadedPolicy(directory, threads=1)
    loaded.units = mapping_units(loaded.trained_mapping)  # what the node does with the mapping in use
    return loaded


def test_the_policy_sees_dataset_units_and_returns_radians(in_degrees):
    assert in_degrees.trained_mapping.features["action"].units == "degrees"
    objects = np.array([0.1, 0.2, 0.3], np.float32)  # metres, in no unit conversion
    radians = {
        "observation.state": np.array([0.0, math.pi / 2, -math.pi / 4], np.float32),
        "observation.environment_state": objects,
    }
    batch = in_degrees.to_batch(radians)
    np.testing.assert_allclose(batch["observation.state"][0, -1].numpy(), [0.0, 90.0, -45.0], rtol=1e-6)
    in_degrees.reset()
    torch.manual_seed(0)
    chunk = in_degrees.predict(radians, np.zeros((0, 3)), 0)
    in_degrees.reset()
    units, in_degrees.units = in_degrees.units, mapping_units(parse_mapping(mapping_text("radians")))
    try:
        torch.manual_seed(0)
        degrees = {"observation.state": np.array([0.0, 90.0, -45.0], np.float32)}
        raw = in_degrees.predict({**degrees, "observation.environment_state": objects}, np.zeros((0, 3)), 0)
        queued_raw = in_degrees.to_policy_actions(np.full((2, 3), 180.0))
    finally:
        in_degrees.units = units
        in_degrees.reset()
    np.testing.assert_allclose(chunk, np.radians(raw), rtol=1e-5, atol=1e-7)  # its degrees, as radians
    queued = in_degrees.to_policy_actions(np.full((2, 3), math.pi))  # RTC's queue goes back in degrees
    np.testing.assert_allclose(queued.numpy(), queued_raw.numpy(), rtol=1e-6)


def run(predict, ticks: int = 20) -> list:
    clock = [100.0]
    observations = ObservationBuffer(["observation.state"], staleness_s=0.5)
    runner = PolicyRunner(
        predict, observations, make_merger("latency"), SafetyFilter(SafetyLimits()),
        fps=30, request_threshold=2, measure=lambda o: o["observation.state"], clock=lambda: clock[0],
    )  # fmt: skip
    results = []
    try:
        for tick in range(ticks):
            clock[0] = 100.0 + tick / 30
            observations.update("observation.state", np.full(3, 0.5), stamp=clock[0], received=clock[0])
            results.append(runner.tick(tick))
            time.sleep(0.005)
    finally:
        runner.close()
    return results


def test_commands_leave_the_runner_in_radians(in_degrees, monkeypatch):
    seen = []

    def policy_in_degrees(observation, pending, delay):  # stands for the trained model: degrees in and out
        seen.append(in_degrees.to_batch(observation)["observation.state"][0, -1].numpy().copy())
        return np.tile([90.0, -180.0, 45.0], (4, 1))

    monkeypatch.setattr(in_degrees, "_predict", policy_in_degrees)
    commands = [r.command for r in run(in_degrees.predict) if not r.holding]
    assert commands, "no command was sent"
    np.testing.assert_allclose(commands[-1], [math.pi / 2, -math.pi, math.pi / 4])
    np.testing.assert_allclose(seen[0], np.degrees(np.full(3, 0.5)), rtol=1e-6)

    monkeypatch.setattr(in_degrees, "_predict", lambda *args: np.full((4, 3), np.nan))
    results = run(in_degrees.predict)
    assert all(r.holding or "non-finite" in " ".join(r.events) for r in results)
    assert all(np.array_equal(r.command, np.full(3, 0.5)) for r in results)  # held where the arm is: no NaN


def test_deployment_mapping_in_other_units_is_refused(in_degrees):
    problems = check_mapping(
        parse_mapping(mapping_text("radians")), in_degrees.input_features, in_degrees.output_features,
        in_degrees.trained_mapping,
    )  # fmt: skip
    assert "'observation.state': trained on values in degrees, the mapping gives radians" in problems[0]
