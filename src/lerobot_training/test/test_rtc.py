"""RTC on an analytic bimodal flow: unguided chunks pick either mode, RTC continues the old chunk's."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from lerobot_training.policies.flow import euler_sample
from lerobot_training.policies.rtc import guidance_weight, rtc_prefix_weights, rtc_sample

H, D, DELAY, EXEC_HORIZON, STEPS, BETA = 16, 2, 3, 10, 10, 10.0
SIGMA = 0.05  # spread of each mode


def _modes() -> Tensor:
    """Two trajectories (2, H, D): one ramping up from +1, one ramping down from -1."""
    ramp = 0.05 * torch.arange(H, dtype=torch.float64).view(H, 1).expand(H, D)
    return torch.stack([1.0 + ramp, -1.0 - ramp])


def bimodal_velocity(x: Tensor, t: Tensor) -> Tensor:
    """The exact flow velocity E[noise − actions | x_t] for actions ~ ½N(μ₁, σ²) + ½N(μ₂, σ²)."""
    mu = _modes().to(x.dtype)  # (K, H, D)
    tt = t.to(x.dtype).view(-1, 1, 1, 1)
    s2 = tt**2 + (1 - tt) ** 2 * SIGMA**2  # per-component variance of x_t
    resid = x.unsqueeze(1) - (1 - tt) * mu  # (B, K, H, D)
    log_post = torch.log_softmax(-(resid**2).sum(dim=(2, 3)) / (2 * s2.view(-1, 1)), dim=1)
    noise_mean = tt / s2 * resid
    action_mean = mu + (1 - tt) * SIGMA**2 / s2 * resid
    return (log_post.exp().view(*log_post.shape, 1, 1) * (noise_mean - action_mean)).sum(dim=1)


def _prev_tail(batch: int, length: int = 12) -> Tensor:
    """The unexecuted tail of an old chunk that followed mode 1, aligned with the new chunk's index 0."""
    generator = torch.Generator().manual_seed(1)
    return _modes()[0, :length] + SIGMA * torch.randn(
        batch, length, D, generator=generator, dtype=torch.float64
    )


def _noise(batch: int) -> Tensor:
    return torch.randn(batch, H, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_weights_follow_the_paper_schedule() -> None:
    w = rtc_prefix_weights(H, DELAY, EXEC_HORIZON, prev_len=H)
    assert torch.equal(w[:DELAY], torch.ones(DELAY))
    assert torch.equal(w[EXEC_HORIZON:], torch.zeros(H - EXEC_HORIZON))
    guided = w[DELAY:EXEC_HORIZON]
    assert bool((guided > 0).all()) and bool((guided < 1).all()) and bool((guided.diff() < 0).all())
    c = (EXEC_HORIZON - DELAY) / (EXEC_HORIZON - DELAY + 1)
    assert guided[0].item() == pytest.approx(c * math.expm1(c) / math.expm1(1.0))
    # A short previous tail leaves the uncovered steps free.
    assert torch.equal(rtc_prefix_weights(H, DELAY, EXEC_HORIZON, prev_len=5)[5:], torch.zeros(H - 5))


def test_guidance_weight_is_clipped_and_at_least_two() -> None:
    assert guidance_weight(1.0, BETA) == BETA  # pure noise: the unclipped weight is infinite
    assert guidance_weight(0.5, BETA) == pytest.approx(2.0)
    assert guidance_weight(0.99, BETA) == BETA
    assert guidance_weight(0.3, BETA) == pytest.approx(guidance_weight(0.7, BETA))


def test_frozen_prefix_equals_old_actions_exactly() -> None:
    prev = _prev_tail(8)
    out = rtc_sample(bimodal_velocity, _noise(8), STEPS, prev, DELAY, EXEC_HORIZON, BETA)
    assert out.shape == (8, H, D)
    assert torch.equal(out[:, :DELAY], prev[:, :DELAY])


def test_zero_weights_equal_plain_euler() -> None:
    noise, prev = _noise(4), _prev_tail(4)
    plain = euler_sample(bimodal_velocity, noise, STEPS)
    no_overlap = rtc_sample(bimodal_velocity, noise, STEPS, prev, 0, 0, BETA)
    assert torch.equal(no_overlap, plain)
    empty_prev = rtc_sample(bimodal_velocity, noise, STEPS, prev[:, :0], DELAY, EXEC_HORIZON, BETA)
    assert torch.equal(empty_prev, plain)
    # Through the guided code path with the guidance switched off: Euler apart from the frozen prefix.
    unguided = rtc_sample(bimodal_velocity, noise, STEPS, prev, DELAY, EXEC_HORIZON, 0.0)
    assert torch.equal(unguided[:, DELAY:], plain[:, DELAY:])


def test_guidance_continues_the_old_mode_and_removes_the_boundary_jump() -> None:
    batch = 64
    noise, prev = _noise(batch), _prev_tail(batch)
    plain = euler_sample(bimodal_velocity, noise, STEPS)
    guided = rtc_sample(bimodal_velocity, noise, STEPS, prev, DELAY, EXEC_HORIZON, BETA)

    def old_mode_share(chunks: Tensor) -> float:
        return (chunks.mean(dim=(1, 2)) > 0).double().mean().item()

    # Unguided sampling picks either mode; RTC stays in the old chunk's mode (measured: 62 of 64 samples at
    # 10 steps; the first step cannot steer, the exact posterior at t = 1 does not depend on x_t).
    assert 0.2 < old_mode_share(plain) < 0.8
    assert old_mode_share(guided) >= 0.9

    def boundary_jump(chunks: Tensor) -> float:
        return (chunks[:, DELAY] - prev[:, DELAY - 1]).norm(dim=-1).mean().item()

    def overlap_error(chunks: Tensor) -> float:
        return (chunks[:, DELAY:EXEC_HORIZON] - prev[:, DELAY:EXEC_HORIZON]).norm(dim=-1).mean().item()

    jump_plain, jump_rtc = boundary_jump(plain), boundary_jump(guided)
    print(f"boundary jump: plain {jump_plain:.3f}, rtc {jump_rtc:.3f}")
    print(f"overlap error: plain {overlap_error(plain):.3f}, rtc {overlap_error(guided):.3f}")
    assert jump_rtc < 0.25 * jump_plain
    assert overlap_error(guided) < 0.25 * overlap_error(plain)


def test_rejects_inference_mode_and_mismatched_shapes() -> None:
    with torch.inference_mode(), pytest.raises(RuntimeError, match="no_grad"):
        rtc_sample(bimodal_velocity, _noise(2), STEPS, _prev_tail(2), DELAY, EXEC_HORIZON, BETA)
    with pytest.raises(ValueError, match="action_dim"):
        rtc_sample(bimodal_velocity, _noise(2), STEPS, _prev_tail(2)[..., :1], DELAY, EXEC_HORIZON, BETA)


def test_runs_under_no_grad_with_a_module_velocity() -> None:
    """Callers sample under no_grad; the guidance still gets gradients and leaves parameter grads alone."""
    layer = torch.nn.Linear(D + 1, D).double()

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        return layer(torch.cat([x, t.view(-1, 1, 1).expand(-1, H, 1).to(x.dtype)], dim=-1))

    with torch.no_grad():
        out = rtc_sample(velocity, _noise(2), STEPS, _prev_tail(2), DELAY, EXEC_HORIZON, BETA)
    assert not out.requires_grad
    assert all(p.grad is None for p in layer.parameters())
