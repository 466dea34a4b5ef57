"""Process groups for ``torchrun``: the environment it sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...)
decides; without it a run is a single process. gloo on CPU, nccl on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group torchrun describes (no-op for a single process); this process's place."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank, world_size, local_rank)


def close_distributed(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def mean_across(value: float, context: DistributedContext, device: torch.device) -> float:
    """The mean of ``value`` over all processes (the loss every rank logs is the global batch's)."""
    if not context.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.item() / context.world_size


def all_gather_bytes(payload: bytes, context: DistributedContext, device: torch.device) -> list[bytes]:
    """Every process's ``payload`` in rank order (tensors, not pickled objects: nccl needs device tensors)."""
    if not context.enabled:
        return [payload]
    data = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(device)
    size = torch.tensor([data.numel()], dtype=torch.int64, device=device)
    sizes = [torch.empty_like(size) for _ in range(context.world_size)]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    padded = torch.nn.functional.pad(data, (0, longest - data.numel()))
    gathered = [torch.empty_like(padded) for _ in range(context.world_size)]
    dist.all_gather(gathered, padded)
    return [bytes(t[: int(s.item())].cpu().numpy()) for t, s in zip(gathered, sizes, strict=True)]
