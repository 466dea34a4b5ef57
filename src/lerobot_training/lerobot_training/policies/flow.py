"""Flow-matching sampling shared by flow policies (π₀) and Real-Time Chunking (policies/rtc.py).

Convention (π₀'s): x_1 is noise, x_0 the data, x_t = t·noise + (1 − t)·actions, and the model predicts the
velocity u = noise − actions, so integration runs from t = 1 down to t = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

# velocity(x_t (B, H, D), t (B,)) -> (B, H, D); differentiable w.r.t. x_t when autograd is on.
VelocityFn = Callable[[Tensor, Tensor], Tensor]


def flow_times(num_steps: int, batch: int, device: torch.device | str | None = None) -> Iterator[Tensor]:
    """The times (B,) of ``num_steps`` equal Euler steps from t = 1 toward 0: 1, 1 − 1/n, ..., 1/n."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be at least 1, got {num_steps}")
    for step in range(num_steps):
        yield torch.full((batch,), 1.0 - step / num_steps, dtype=torch.float32, device=device)


def euler_sample(velocity: VelocityFn, noise: Tensor, num_steps: int) -> Tensor:
    """x_0 from x_1 = ``noise``: ``num_steps`` Euler steps of dx/dt = velocity(x, t) from t = 1 to 0."""
    dt = -1.0 / num_steps
    x = noise
    for t in flow_times(num_steps, noise.shape[0], noise.device):
        x = x + dt * velocity(x, t)
    return x
