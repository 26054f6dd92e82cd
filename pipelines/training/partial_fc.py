"""Partial FC (An et al., "Partial FC: Training 10 Million Identities on a Single Machine", 2021).

The class centres are sharded across the ranks: rank r holds classes ``[start_r, end_r)``.
Each step, every rank

1. gathers the embeddings and labels of the whole global batch (N, D);
2. keeps the positive classes of its shard that occur in the batch plus a random share of
   the other centres (``sample_rate``; 1.0 = all), seeded by (seed, iteration, rank);
3. computes the cosines (N, S) against those centres and applies the margin of the loss
   (a :class:`losses.Margin`, the same function as the non-sharded loss) to the target
   cosines that fall in its shard;
4. joins a softmax cross-entropy distributed over the shards: the row max (all_reduce MAX,
   no gradient: log-sum-exp is shift invariant), the sum of exponentials and the target
   logit (all_reduce SUM).

Gradients. Every rank holds a replica of the same scalar loss, so an all_reduce's backward
is the identity here (each rank differentiates its replica w.r.t. its own inputs). The
embedding gradient of each rank's shard is summed over ranks by the all-gather's backward;
DDP then *averages* backbone gradients over ranks, so the embeddings' gradient is scaled by
the world size beforehand to make the result the gradient of the global-batch mean loss —
what a single process on the whole batch computes.
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import losses
from losses import Margin, cosine_matrix

from .distributed import all_gather_with_grad


class _AllReduceSumReplicated(torch.autograd.Function):
    """all_reduce(SUM) whose backward is the identity (the loss is replicated on every rank)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; gradient multiplied by ``factor``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _sum(x: torch.Tensor) -> torch.Tensor:
    return _AllReduceSumReplicated.apply(x) if _distributed() else x


def shard_range(num_classes: int, rank: int, world: int) -> tuple[int, int]:
    """Classes ``[start, end)`` held by ``rank``: contiguous, sizes differing by at most one."""
    base, extra = divmod(num_classes, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class PartialFC(nn.Module):
    """Sharded, sampled margin-softmax loss: ``forward(embeddings (n, D), labels (n,))`` on
    each rank's local batch → the mean loss over the global batch (same value on all ranks).

    ``weight``: this rank's class centres, (end − start, D).
    """

    def __init__(self, loss_name: str, embedding_dim: int, num_classes: int, sample_rate: float = 1.0,
                 seed: int = 0, rank: int = 0, world: int = 1, **hyper: object) -> None:
        super().__init__()
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError("sample_rate must be in (0, 1]")
        if num_classes < world:
            raise ValueError(f"{num_classes} classes cannot be sharded over {world} ranks")
        self.margin: Margin = losses.margin_for(loss_name, **hyper)  # ValueError: not a margin loss
        self.embedding_dim, self.num_classes = embedding_dim, num_classes
        self.sample_rate, self.seed, self.rank, self.world = sample_rate, seed, rank, world
        self.start, self.end = shard_range(num_classes, rank, world)
        self.weight = nn.Parameter(torch.empty(self.end - self.start, embedding_dim))
        nn.init.normal_(self.weight, std=0.01)  # as NormalizedClassifier
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))  # seeds the sampling; resumed
        self.last_index: torch.Tensor | None = None  # centres used by the last forward (for inspection)

    def sample(self, local_labels: torch.Tensor) -> torch.Tensor:
        """Sorted indices into this shard: every positive in ``local_labels`` plus random
        negatives, ``max(#positives, ceil(sample_rate · shard))`` in all."""
        n_local = self.weight.shape[0]
        if self.sample_rate >= 1.0:
            return torch.arange(n_local, device=self.weight.device)
        g = torch.Generator().manual_seed(hash((self.seed, int(self.iteration), self.rank)) % 2**63)
        score = torch.rand(n_local, generator=g).to(self.weight.device)
        positives = torch.unique(local_labels)
        score[positives] = 2.0  # positives always kept
        k = max(len(positives), math.ceil(self.sample_rate * n_local))
        return torch.sort(torch.topk(score, k).indices).values

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = embeddings.float()
            if _distributed():
                x = all_gather_with_grad(_ScaleGrad.apply(x, float(self.world)))  # (N, D) global batch
                parts = [torch.empty_like(labels) for _ in range(self.world)]
                dist.all_gather(parts, labels.contiguous())
                labels = torch.cat(parts)  # (N,)
            local = labels - self.start
            in_shard = (local >= 0) & (local < self.weight.shape[0])  # (N,)
            index = self.sample(local[in_shard])
            self.last_index = index
            remap = torch.full((self.weight.shape[0],), -1, dtype=torch.long, device=labels.device)
            remap[index] = torch.arange(len(index), device=labels.device)
            target = torch.where(in_shard, remap[local.clamp(0, self.weight.shape[0] - 1)], 0)  # (N,)

            cos = cosine_matrix(x, self.weight[index])  # (N, S)
            tgt_logit = self.margin.target_logit(cos.gather(1, target[:, None]))  # (N, 1)
            logits = self.margin.scale * cos
            is_target = F.one_hot(target, len(index)).bool() & in_shard[:, None]
            logits = torch.where(is_target, tgt_logit.expand_as(logits), logits)  # (N, S)

            row_max = logits.detach().max(dim=1).values  # (N,)
            if _distributed():
                dist.all_reduce(row_max, op=dist.ReduceOp.MAX)
            sum_exp = _sum(torch.exp(logits - row_max[:, None]).sum(dim=1))  # (N,) over all shards
            tgt = _sum(torch.where(in_shard, logits.gather(1, target[:, None]).squeeze(1), torch.zeros_like(row_max)))
            loss = (torch.log(sum_exp) + row_max - tgt).mean()
        if self.training:
            self.iteration += 1
        return loss

    def extra_repr(self) -> str:
        return (f"classes [{self.start}, {self.end}) of {self.num_classes}, sample_rate={self.sample_rate}, "
                f"{self.margin!r}")
