"""Real-Time Chunking (Black, Galliker & Levine 2025, "Real-Time Execution of Action Chunking Flow Policies").

While a new chunk is being inferred the robot keeps executing the previous one, so the new chunk must
continue it. RTC treats this as inpainting: the first ``inference_delay`` actions are frozen to the old ones,
the rest of the overlap is guided toward the old chunk with an exponentially decaying weight, and the tail is
free. The guidance is the pseudo-inverse (ΠGDM) correction through the model's one-step estimate of the
clean actions.

Works with any flow-matching velocity in the π₀ convention of :mod:`lerobot_training.policies.flow` (t = 1 is
noise). The paper writes time the other way (τ = 1 − t, velocity ``actions − noise``); every formula below is
that paper's, rewritten for this convention.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lerobot_training.policies.flow import VelocityFn, euler_sample, flow_times


def rtc_prefix_weights(
    horizon: int,
    inference_delay: int,
    execution_horizon: int,
    prev_len: int,
    device: torch.device | None = None,
) -> Tensor:
    """Per-step guidance weights (horizon,): 1 for the first d = ``inference_delay`` steps, then
    ``c·(eᶜ − 1)/(e − 1)`` with ``c = (E − i)/(E − d + 1)`` up to E = ``execution_horizon`` (exclusive),
    then 0. Steps the previous chunk does not cover (index ≥ ``prev_len``) weigh 0."""
    if inference_delay < 0 or execution_horizon < 0:
        raise ValueError(
            f"inference_delay ({inference_delay}) and execution_horizon ({execution_horizon}) must be >= 0"
        )
    d = min(inference_delay, horizon)
    end = min(max(execution_horizon, d), horizon)
    i = torch.arange(horizon, dtype=torch.float32, device=device)
    c = (end - i) / (end - d + 1)
    decay = c * torch.expm1(c) / math.expm1(1.0)
    weights = torch.where(i < d, torch.ones_like(i), torch.where(i < end, decay, torch.zeros_like(i)))
    return torch.where(i < prev_len, weights, torch.zeros_like(i))


def guidance_weight(t: float, max_guidance: float) -> float:
    """The paper's ``min(β, (1 − τ)/(τ·r_τ²))`` with ``r_τ² = (1 − τ)²/(τ² + (1 − τ)²)``.

    Simplified it is ``(τ² + (1 − τ)²)/(τ(1 − τ))``, symmetric in τ ↔ 1 − τ, so it reads the same with
    t = 1 − τ; it is at least 2 and unbounded at both ends, where the clip β applies.
    """
    if t <= 0.0 or t >= 1.0:
        return max_guidance
    return min(max_guidance, (t * t + (1.0 - t) ** 2) / (t * (1.0 - t)))


def rtc_sample(
    velocity: VelocityFn,
    noise: Tensor,
    num_steps: int,
    prev_actions: Tensor,
    inference_delay: int,
    execution_horizon: int,
    max_guidance: float,
) -> Tensor:
    """Sample a chunk (B, H, D) that continues ``prev_actions`` (Euler from t = 1 to 0, as ``euler_sample``).

    ``velocity(x_t, t)`` must be differentiable w.r.t. ``x_t``: the guidance back-propagates through it. Call
    this under ``torch.no_grad()`` or with grad enabled, never inside ``torch.inference_mode()`` (tensors made
    there, including a KV cache the velocity closes over, cannot take part in autograd).

    ``prev_actions`` (B or 1, P, D) is the still-unexecuted tail of the previous chunk in the same
    (normalized, padded) action space, aligned so that ``prev_actions[:, 0]`` is the action the new chunk's
    index 0 replaces; P may be shorter than H (the uncovered steps are free) or longer (the excess is
    ignored).
    ``inference_delay`` d: steps the robot executes while this chunk is inferred; they come out equal to
    ``prev_actions`` (clipped to P). ``execution_horizon``: end (exclusive) of the guided overlap.
    ``max_guidance``: the clip β of the guidance weight (the paper uses 5 to 10).
    """
    if noise.dim() != 3 or prev_actions.dim() != 3:
        raise ValueError(
            f"noise and prev_actions must be (batch, steps, action_dim); got {tuple(noise.shape)} and "
            f"{tuple(prev_actions.shape)}"
        )
    batch, horizon, dim = noise.shape
    if prev_actions.shape[2] != dim or prev_actions.shape[0] not in (1, batch):
        raise ValueError(
            f"prev_actions {tuple(prev_actions.shape)} does not fit noise {tuple(noise.shape)}: it needs the "
            "same action_dim (pad it as the policy pads actions) and a batch of 1 or the same batch"
        )
    if max_guidance < 0:
        raise ValueError(f"max_guidance must be >= 0, got {max_guidance}")

    prev_len = min(prev_actions.shape[1], horizon)
    weights = rtc_prefix_weights(horizon, inference_delay, execution_horizon, prev_len, noise.device)
    target = noise.new_zeros((prev_actions.shape[0], horizon, dim))
    target[:, :prev_len] = prev_actions[:, :prev_len].to(noise.dtype)
    frozen = min(inference_delay, prev_len)

    if not bool(weights.any()):
        return euler_sample(velocity, noise, num_steps)
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "rtc_sample back-propagates through the velocity model and cannot run inside "
            "torch.inference_mode(); use torch.no_grad() around inference instead"
        )

    w = weights.to(noise.dtype).view(1, horizon, 1)
    dt = -1.0 / num_steps
    x = noise.detach()
    with torch.enable_grad():
        for t in flow_times(num_steps, batch, noise.device):
            x_t = x.detach().requires_grad_(True)
            v = velocity(x_t, t)
            # One-step estimate of the clean actions: x_t − t·v (exact when v = noise − actions).
            clean = x_t - t.to(v.dtype).view(-1, 1, 1) * v
            error = (target - clean.detach()) * w
            # Vector-Jacobian product errorᵀ·∂clean/∂x_t; only x_t's gradient, parameters stay untouched.
            (correction,) = torch.autograd.grad(clean, x_t, grad_outputs=error)
            # Minus: in this convention v points from actions to noise, the paper's the other way.
            guided = v.detach() - guidance_weight(float(t[0]), max_guidance) * correction
            x = x_t.detach() + dt * guided
    # The robot executes the first d old actions while this chunk is computed: make that exact.
    return torch.cat([target[:, :frozen].expand(batch, -1, -1), x[:, frozen:]], dim=1)
