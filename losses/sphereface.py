"""The original A-Softmax loss of SphereFace (Liu et al., CVPR 2017).

Class centres are normalised, biases are zero, features are *not* normalised:

    logit_j = ‖x‖ · cos θ_j                                  (j ≠ y)
    logit_y = ‖x‖ · (λ · cos θ_y + ψ(θ_y)) / (1 + λ)
    ψ(θ)    = (−1)^k · cos(mθ) − 2k,   θ ∈ [kπ/m, (k+1)π/m],  integer m ≥ 1

λ is annealed with the iteration as in the authors' Caffe ``MarginInnerProduct``
layer: ``λ = max(lambda_min, base · (1 + gamma · it)^(−power))`` with defaults
base = 1000, gamma = 0.12, power = 1, lambda_min = 5.  Unlike Caffe, the
iteration does not advance by itself on each forward: the trainer calls
``loss.step()`` once per optimisation step (or ``loss.set_iteration(it)``).  The
iteration is a registered buffer, so it is saved and restored with the state dict.

cos(mθ) is the Chebyshev polynomial T_m(cos θ) (as in the Caffe layer), so ψ and
its gradient are exact polynomials in cos θ with no acos in the gradient path;
acos is used only, without gradient, to find k.  Gradients are finite even at
cos θ = ±1 and for zero-norm features.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import COS_EPS, check_inputs, check_real, compute_dtype
from .classifier import NormalizedClassifier


@dataclass(frozen=True)
class LambdaSchedule:
    """λ(it) = max(lambda_min, base · (1 + gamma · it)^(−power)) (SphereFace's Caffe)."""

    base: float = 1000.0
    gamma: float = 0.12
    power: float = 1.0
    lambda_min: float = 5.0

    def __post_init__(self) -> None:
        for name in ("base", "gamma", "power", "lambda_min"):
            object.__setattr__(self, name, check_real(name, getattr(self, name), minimum=0.0))

    def __call__(self, iteration: int) -> float:
        if iteration < 0:
            raise ValueError(f"iteration must be ≥ 0, got {iteration}")
        return max(self.lambda_min, self.base * (1.0 + self.gamma * iteration) ** (-self.power))


def chebyshev(m: int, c: torch.Tensor) -> torch.Tensor:
    """T_m(c) = cos(m·acos c) by the recurrence T_{n+1} = 2c·T_n − T_{n−1}."""
    t_prev, t = torch.ones_like(c), c
    if m == 0:
        return t_prev
    for _ in range(m - 1):
        t_prev, t = t, 2.0 * c * t - t_prev
    return t


def a_softmax_psi(cos: torch.Tensor, m: int) -> torch.Tensor:
    """ψ(θ) = (−1)^k cos(mθ) − 2k as a function of cos θ (any shape)."""
    with torch.no_grad():
        theta = torch.acos(cos.clamp(-1.0 + COS_EPS, 1.0 - COS_EPS))
        # k ∈ {0, …, m−1}; ψ is continuous at the interval ends, so a k that is
        # off by one right at a boundary (rounding) changes nothing measurable.
        k = torch.floor(theta * (m / math.pi)).clamp(0, m - 1)
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    return sign * chebyshev(m, cos) - 2.0 * k


class ASoftmaxLoss(nn.Module):
    """A-Softmax with integer margin ``margin`` (default 4) and the annealed λ mix.

    ``weight``: (num_classes, embedding_dim) class centres (normalised in use).
    ``iteration``: int64 buffer; ``lambda_`` is the current λ.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        margin: int = 4,
        lambda_base: float = 1000.0,
        lambda_gamma: float = 0.12,
        lambda_power: float = 1.0,
        lambda_min: float = 5.0,
    ) -> None:
        super().__init__()
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not (
            float(margin).is_integer() and margin >= 1
        ):
            raise ValueError(f"margin must be an integer ≥ 1 for A-Softmax, got {margin!r}")
        self.m = int(margin)
        self.schedule = LambdaSchedule(lambda_base, lambda_gamma, lambda_power, lambda_min)
        self.classifier = NormalizedClassifier(embedding_dim, num_classes)
        self.embedding_dim = self.classifier.embedding_dim
        self.num_classes = self.classifier.num_classes
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    @property
    def weight(self) -> nn.Parameter:
        return self.classifier.weight

    @property
    def lambda_(self) -> float:
        """λ at the current iteration."""
        return self.schedule(int(self.iteration))

    def step(self, n: int = 1) -> None:
        """Advance the λ schedule by ``n`` iterations (call once per optimiser step)."""
        self.set_iteration(int(self.iteration) + n)

    def set_iteration(self, iteration: int) -> None:
        if isinstance(iteration, bool) or not isinstance(iteration, numbers.Integral) or iteration < 0:
            raise ValueError(f"iteration must be an integer ≥ 0, got {iteration!r}")
        self.iteration.fill_(int(iteration))

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_inputs(embeddings, labels, self.embedding_dim, self.num_classes)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = embeddings.to(compute_dtype(embeddings, self.weight))
            # ‖x‖ (N, 1); its gradient at x = 0 is torch's subgradient 0.
            norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
            cos = self.classifier(x)  # (N, C)
            index = labels.view(-1, 1)
            cos_y = cos.gather(1, index)  # (N, 1)
            lam = self.lambda_
            target = (lam * cos_y + a_softmax_psi(cos_y, self.m)) / (1.0 + lam)
            return norm * cos.scatter(1, index, target)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)

    def extra_repr(self) -> str:
        return f"margin={self.m}, schedule={self.schedule}"


__all__ = ["ASoftmaxLoss", "LambdaSchedule", "a_softmax_psi", "chebyshev"]
