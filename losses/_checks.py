"""Argument validation and the float32 compute policy shared by every loss.

Every loss computes its logits in at least float32: under fp16/bf16 autocast, or
with half-precision inputs or a half-precision module, the inputs and the class
centres are cast up inside the loss, with autocast disabled there.  float64
inputs stay float64 (``torch.autograd.gradcheck`` needs that).
"""

from __future__ import annotations

import math
import numbers

import torch

# Lower bound on the norm when normalising features or class centres
# (x / max(‖x‖, eps), as F.normalize): a zero vector normalises to the zero vector
# (cosine 0) instead of NaN.  Its gradient there is finite but of order 1/NORM_EPS
# (~1e13 for a zero feature in float32/64): x/‖x‖ has no derivative at 0.  Cast back
# to an fp16 input that overflows to inf — GradScaler then skips the step.
NORM_EPS: float = 1e-12

# cos θ is clamped to [-1 + COS_EPS, 1 - COS_EPS] before acos: d acos(c)/dc =
# -1/sqrt(1 - c²) is infinite at ±1.  torch.clamp passes a zero gradient for
# inputs outside that interval, so a cosine of exactly ±1 (or within 1e-7 of it)
# gets no gradient through the angle; everywhere else the gradient is exact.
COS_EPS: float = 1e-7


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, raising ValueError unless it is an integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite float in the given range, else raise ValueError.

    ``strict`` makes the lower bound exclusive (``value > minimum``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        bound = ">" if strict else "≥"
        raise ValueError(f"{name} must be {bound} {minimum}, got {value!r}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be ≤ {maximum}, got {value!r}")
    return v


def check_inputs(
    embeddings: torch.Tensor, labels: torch.Tensor, embedding_dim: int, num_classes: int
) -> None:
    """Raise ValueError unless embeddings is (N, D) floating and labels (N,) in [0, C)."""
    if not isinstance(embeddings, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError("embeddings and labels must be torch tensors")
    if embeddings.dim() != 2 or embeddings.shape[1] != embedding_dim:
        raise ValueError(
            f"embeddings must have shape (N, {embedding_dim}), got {tuple(embeddings.shape)}"
        )
    if not embeddings.is_floating_point():
        raise ValueError(f"embeddings must be floating point, got {embeddings.dtype}")
    if embeddings.shape[0] == 0:
        raise ValueError("embeddings must hold at least one row")
    if labels.dim() != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels must have shape ({embeddings.shape[0]},), got {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
    # One host sync per call; cheap next to the (N, C) matmul and it turns a
    # silent wrong gather / device assert into a clear error.
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got range [{lo}, {hi}]")


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precision is cast up)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
