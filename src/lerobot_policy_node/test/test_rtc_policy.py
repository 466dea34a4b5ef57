"""Real-time chunking through the node's policy adapter, runner and node, with a test-local flow policy
(and once with a tiny random π₀).

The toy policy's actions are bimodal: from the observed state, every joint moves steadily up or down. Plain
sampling picks a direction per chunk, so consecutive chunks disagree; with RTC each chunk continues the
queued one. Its checkpoint is saved and loaded the product's way, its type registered only for these tests.
"""

from __future__ import annotations

import dataclasses
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lerobot_dataset.features import DEFAULT_FEATURES
from lerobot_policy_node.chunks import make_merger, resolve_strategy
from lerobot_policy_node.observation import ObservationBuffer
from lerobot_policy_node.policy import LoadedPolicy, rtc_enabled
from lerobot_policy_node.runner import Chunk, PolicyRunner
from lerobot_policy_node.safety import SafetyFilter, SafetyLimits
from lerobot_training.checkpoint import save_pretrained
from lerobot_training.features import ACTION, OBS_STATE
from lerobot_training.normalization import NormalizationMode
from lerobot_training.policies import (
    POLICY_TYPES,
    PolicyType,
    make_policy,
    make_pre_post_processors,
)
from lerobot_training.policies.base import Policy, PolicyConfig
from lerobot_training.policies.flow import euler_sample
from lerobot_training.policies.rtc import rtc_sample
from lerobot_training.processor import make_normalizing_processors

FPS = 50
JOINTS = 2
# Per-tick motion in normalized units: chunks spread over about one standard deviation, as normalized
# actions do (ΠGDM's guidance weight assumes unit-variance data).
STEP = 0.15
TICK = 2.0 * STEP  # the same in command units (std 2)
SIGMA = 0.05  # spread of each direction's actions
FEATURES = {
    OBS_STATE: {"dtype": "float32", "shape": [JOINTS], "names": None},
    ACTION: {"dtype": "float32", "shape": [JOINTS], "names": None},
    **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
}
STATS = {
    name: {"mean": [0.5] * JOINTS, "std": [2.0] * JOINTS, "min": [-5.0] * JOINTS, "max": [5.0] * JOINTS}
    for name in (OBS_STATE, ACTION)
}


@dataclasses.dataclass
class ToyFlowConfig(PolicyConfig):
    type = "toy_flow"

    chunk_size: int = 16
    n_action_steps: int = 16
    max_action_dim: int = 4  # actions are zero-padded to this, as π₀ pads to 32
    num_inference_steps: int = 10
    rtc_config: dict[str, Any] | None = dataclasses.field(
        default_factory=lambda: {"enabled": True, "execution_horizon": 16, "max_guidance_weight": 10.0}
    )
    normalization_mapping: dict[str, NormalizationMode] = dataclasses.field(
        default_factory=lambda: {"STATE": NormalizationMode.MEAN_STD, "ACTION": NormalizationMode.MEAN_STD}
    )

    def validate_features(self) -> None:
        _ = self.action_feature

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))

    @property
    def chunk_length(self) -> int:
        return self.n_action_steps

    @property
    def rtc_enabled(self) -> bool:
        return bool(self.rtc_config and self.rtc_config["enabled"])

    def make_optimizer(self, params: Iterable[Any]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=0.0)


class ToyFlowPolicy(Policy):
    """The exact flow velocity of a two-direction mixture: no training needed, and a known answer."""

    config_class = ToyFlowConfig
    supports_rtc = True

    def __init__(self, config: ToyFlowConfig) -> None:
        super().__init__(config)
        self.gain = nn.Parameter(torch.ones(()))  # a weight, so that the checkpoint has one

    def reset(self) -> None:
        pass

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError("the toy flow policy is not trained")

    def select_action(self, batch: dict[str, Tensor]) -> Tensor:
        return self.predict_action_chunk(batch)[:, 0]

    def predict_action_chunk(
        self, batch: dict[str, Tensor], prev_actions: Tensor | None = None, inference_delay: int = 0
    ) -> Tensor:
        config = self.config
        state = batch[OBS_STATE]  # (B, joints), normalized
        steps = torch.arange(1, config.chunk_size + 1, dtype=state.dtype).view(1, -1, 1)
        directions = torch.tensor([1.0, -1.0], dtype=state.dtype).view(1, 2, 1, 1)
        modes = state[:, None, None, :] + directions * STEP * steps.unsqueeze(1)  # (B, 2, H, joints)
        modes = nn.functional.pad(modes, (0, config.max_action_dim - JOINTS))

        def velocity(x: Tensor, t: Tensor) -> Tensor:  # E[noise − actions | x_t] of the mixture
            tt = t.to(x.dtype).view(-1, 1, 1, 1)
            variance = tt**2 + (1 - tt) ** 2 * SIGMA**2
            resid = x[:, None] - (1 - tt) * modes
            posterior = torch.softmax(-(resid**2).sum(dim=(2, 3)) / (2 * variance.view(-1, 1)), dim=1)
            per_mode = tt / variance * resid - (modes + (1 - tt) * SIGMA**2 / variance * resid)
            return self.gain * (posterior[..., None, None] * per_mode).sum(dim=1)

        noise = torch.randn(state.shape[0], config.chunk_size, config.max_action_dim, dtype=state.dtype)
        if prev_actions is None:
            chunk = euler_sample(velocity, noise, config.num_inference_steps)
        else:
            rtc = config.rtc_config
            chunk = rtc_sample(
                velocity, noise, config.num_inference_steps, prev_actions, inference_delay,
                rtc["execution_horizon"], rtc["max_guidance_weight"],
            )  # fmt: skip
        return chunk[:, : config.n_action_steps, :JOINTS]


def _processors(config: ToyFlowConfig, stats: Any) -> Any:
    return make_normalizing_processors(
        config.input_features, config.output_features, config.normalization_mapping, stats, config.device
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Iterable[Path]:
    """A saved toy flow checkpoint; its type is registered while this module's tests run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(
            POLICY_TYPES, "toy_flow", PolicyType("toy_flow", ToyFlowConfig, ToyFlowPolicy, _processors)
        )
        config = ToyFlowConfig(device="cpu")
        policy = make_policy(config, FEATURES)
        yield save_pretrained(
            tmp_path_factory.mktemp("toy_flow") / "pm", policy, *make_pre_post_processors(config, STATS)
        )


@pytest.fixture(scope="module")
def loaded(checkpoint) -> LoadedPolicy:
    return LoadedPolicy(checkpoint, threads=1)


def observation(state: np.ndarray) -> dict[str, np.ndarray]:
    return {OBS_STATE: np.asarray(state, np.float32)}


def test_capability_and_strategy_choice(loaded):
    assert loaded.supports_rtc and loaded.use_rtc and loaded.policy_action_dim == 4
    assert resolve_strategy("auto", loaded.supports_rtc) == "rtc"
    assert resolve_strategy("auto", False) == "latency"
    assert resolve_strategy("ensemble", True) == "ensemble"
    with pytest.raises(ValueError, match="rtc_config"):
        resolve_strategy("rtc", False)
    features = loaded.policy.config.output_features
    assert not rtc_enabled(
        ToyFlowPolicy(ToyFlowConfig(output_features=features, rtc_config={"enabled": False}))
    )

    class NoRtcInterface(ToyFlowPolicy):  # what ACT and Diffusion look like
        supports_rtc = False

        def predict_action_chunk(self, batch: dict[str, Tensor]) -> Tensor:
            return super().predict_action_chunk(batch)

    assert not rtc_enabled(NoRtcInterface(ToyFlowConfig(output_features=features)))


def test_queued_actions_go_back_to_the_policy_space_padded(loaded):
    actions = np.random.default_rng(0).normal(size=(5, JOINTS)).astype(np.float32)
    policy_space = loaded.to_policy_actions(actions)
    assert policy_space.shape == (1, 5, 4)
    assert torch.equal(policy_space[..., JOINTS:], torch.zeros(1, 5, 2))  # padding, as in training
    np.testing.assert_allclose(policy_space[0, :, :JOINTS].numpy(), (actions - 0.5) / 2.0, rtol=1e-6)
    back = loaded.postprocessor(policy_space[..., :JOINTS])[0].numpy()
    np.testing.assert_allclose(back, actions, atol=1e-6)


def test_predicted_chunk_continues_the_queue(loaded):
    """The chunk computed ``shift`` ticks after the last one: frozen prefix, same direction, small jump."""
    torch.manual_seed(0)  # the noise: the same draws every run
    delay, shift, trials = 3, 4, 50
    state = np.array([1.0, -1.0])
    kept, jumps = {}, {}
    for use_rtc in (True, False):
        loaded.use_rtc = use_rtc
        kept[use_rtc], jumps[use_rtc] = 0, []
        for _ in range(trials):
            old = loaded.predict(observation(state), np.zeros((0, JOINTS)), 0)
            pending = old[shift:]  # the robot executed `shift` actions since
            new = loaded.predict(observation(old[shift - 1]), pending, delay)
            if use_rtc:
                np.testing.assert_allclose(new[:delay], pending[:delay], atol=1e-5)
            kept[use_rtc] += int(np.sign(new[-1, 0] - new[0, 0]) == np.sign(old[-1, 0] - old[0, 0]))
            jumps[use_rtc].append(np.abs(new[delay] - pending[delay - 1]).max())
    loaded.use_rtc = True
    print(
        f"direction kept in {kept[True]}/{trials} chunks with RTC, {kept[False]}/{trials} without; mean "
        f"boundary jump {np.mean(jumps[True]):.3f} vs {np.mean(jumps[False]):.3f} (a tick moves {TICK:.2f})"
    )
    # ΠGDM guidance is approximate: a chunk whose noise strongly favours the other direction can still flip.
    assert kept[True] >= 0.9 * trials and kept[False] <= 0.75 * trials
    assert np.median(jumps[True]) < 2 * TICK < np.median(jumps[False])


def _drive(
    loaded: LoadedPolicy, strategy: str, ticks: int
) -> tuple[np.ndarray, list[tuple[int, Chunk, int]]]:
    """Closed loop at FPS through the runner, the robot reaching every command; inference takes ≥ 1.5 ticks.
    Returns the command of every tick and each chunk with its arrival tick and the delay it was given."""
    loaded.use_rtc = strategy == "rtc"
    observations = ObservationBuffer([OBS_STATE], staleness_s=0.5)
    delays: list[int] = []

    def slow_predict(obs: dict[str, np.ndarray], pending: np.ndarray, delay: int) -> np.ndarray:
        delays.append(delay)
        time.sleep(1.5 / FPS)
        return loaded.predict(obs, pending, delay)

    runner = PolicyRunner(
        slow_predict, observations, make_merger(strategy), SafetyFilter(SafetyLimits()),
        fps=FPS, request_threshold=8, measure=lambda o: o[OBS_STATE],
    )  # fmt: skip
    started = time.perf_counter()
    slow_predict(observation(np.zeros(JOINTS)), np.zeros((8, JOINTS)), 1)  # as the node's warm-up
    runner.inference_times.append(time.perf_counter() - started)
    state, commands, arrivals = np.zeros(JOINTS), [], []
    try:
        for tick in range(ticks):
            now = time.monotonic()
            observations.update(OBS_STATE, state, stamp=now, received=now)
            result = runner.tick(tick)
            assert not (result.holding and arrivals), f"held at tick {tick}: {result.reason}"
            if result.new_chunk is not None:
                arrivals.append((tick, result.new_chunk))
            commands.append(result.command)
            state = result.command
            time.sleep(1 / FPS)
    finally:
        runner.close()
        loaded.use_rtc = True
    return np.asarray(commands), [
        (tick, chunk, delay) for (tick, chunk), delay in zip(arrivals, delays[1:], strict=False)
    ]


def test_runner_rtc_chunks_continue_what_the_robot_executed(loaded):
    torch.manual_seed(1)
    commands, chunks = _drive(loaded, "rtc", ticks=100)
    assert len(chunks) >= 6
    jumps, covered = [], 0
    for arrival, chunk, delay in chunks[1:]:
        start, executed = chunk.start_tick, arrival - chunk.start_tick  # old actions run meanwhile
        frozen = min(delay, executed)
        np.testing.assert_allclose(chunk.actions[:frozen], commands[start : start + frozen], atol=1e-5)
        covered += int(delay >= executed)
        jumps.append(np.abs(commands[arrival] - commands[arrival - 1]).max())
    print(
        f"{len(chunks)} chunks, the delay covered the inference for {covered} of {len(chunks) - 1}; "
        f"command change at a switch: median {np.median(jumps):.3f}, largest {np.max(jumps):.3f} "
        f"(a tick moves {TICK})"
    )
    # Where the delay covers the inference (a load spike can outlast the slowest recent one), the first new
    # action the robot runs is the first guided one, right after the frozen prefix: it moves about one tick,
    # unless the guidance lost the direction (ΠGDM is approximate: 1 chunk in 50 above).
    assert np.median(jumps) < 2 * TICK


def test_tiny_pi0_continues_the_queue_through_the_adapter(tiny_pi0):
    """The real π₀ (tiny, random) from a checkpoint: the RTC path runs and freezes the queued prefix."""
    camera = "observation.images.front"
    pi0 = LoadedPolicy(tiny_pi0, threads=1)
    pi0.task = "move the arm"
    assert pi0.supports_rtc and pi0.policy_action_dim == 32
    obs = {OBS_STATE: np.array([0.3, -0.2], np.float32), camera: np.full((16, 16, 3), 128, np.uint8)}
    torch.manual_seed(0)
    first = pi0.predict(obs, np.zeros((0, JOINTS)), 0)
    pending = first[2:]
    chunk = pi0.predict(obs, pending, 3)
    assert chunk.shape == (8, JOINTS) and np.isfinite(chunk).all()
    np.testing.assert_allclose(chunk[:3], pending[:3], atol=1e-5)
    assert pi0.warm_up() > 0  # the warm-up takes the RTC path, whose time seeds the delay estimate


@pytest.mark.parametrize(("strategy", "expected"), [("auto", "rtc"), ("latency", "latency")])
def test_node_picks_rtc_for_a_flow_policy_with_rtc_enabled(
    ros_context, tmp_path, checkpoint, strategy, expected
):
    pytest.importorskip("rclpy", reason="needs the workspace venv (make setup)")
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from lerobot_policy_node.ros.policy_node import PolicyNode

    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        textwrap.dedent(
            f"""
            name: toy
            robot_type: toy
            fps: {FPS}
            features:
              observation.state: {{topic: /toy/states, type: sensor_msgs/msg/JointState, joints: [a, b]}}
              action: {{topic: /toy/commands, type: std_msgs/msg/Float64MultiArray, joints: [a, b]}}
            """
        )
    )
    node = PolicyNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("checkpoint", value=str(checkpoint)),
            Parameter("mapping", value=str(mapping)),
            Parameter("strategy", value=strategy),
        ],
    )
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        assert node.strategy == expected and node.policy.use_rtc == (expected == "rtc")
        assert node.runner.inference_times  # the warm-up's time: the first delay estimate
    finally:
        node.destroy_node()  # with the runner's inference thread
