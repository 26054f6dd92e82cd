"""Process-group helpers for ``torchrun`` (DDP); a single process is world size 1."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def dist_env() -> DistEnv:
    """Rank and world size from torchrun's environment variables (defaults: one process)."""
    return DistEnv(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def init_distributed(env: DistEnv, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo on CPU) unless already joined or alone."""
    if env.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=env.rank, world_size=env.world)


def barrier(env: DistEnv) -> None:
    if env.enabled and dist.is_initialized():
        dist.barrier()


def broadcast_flag(env: DistEnv, flag: bool, device: torch.device) -> bool:
    """Rank 0's boolean, on every rank (e.g. 'stop now': all ranks must stop at the same step)."""
    if not env.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


class _AllGather(torch.autograd.Function):
    """all_gather along dim 0 with a gradient: each rank gets back the sum over ranks of the
    gradient of its own slice (every rank's loss term depends on every rank's rows)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # x: (n, ...) → (world·n, ...)
        world = dist.get_world_size()
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) per rank → (world·n, ...) in rank order, differentiable."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _AllGather.apply(x)
