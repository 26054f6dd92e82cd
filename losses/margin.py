"""The margin function shared by NormFace, CosFace, ArcFace, normalized SphereFace
and their combination.

All of them are one formula on the cosine between a feature and its class centre::

    target logit   logit_y = s · (ψ(m1·θ_y + m2) − m3),   θ_y = acos(cos θ_y)
    other logits   logit_j = s · cos θ_j

where ψ is cos extended monotonically beyond [0, π] (SphereFace's extension)::

    ψ(φ) = (−1)^k · cos φ − 2k,   k = ⌊φ / π⌋.

ψ equals cos on [0, π], is continuous (both pieces equal 1 − 2k at φ = kπ) and
strictly decreasing on the whole real line, so with m1 ≥ 1 and m2, m3 ≥ 0 the
target logit is strictly decreasing in θ on [0, π] and never exceeds s·cos θ_y
(ψ is decreasing and φ ≥ θ, so ψ(φ) ≤ ψ(θ) = cos θ).  For integer m1 and m2 = 0
this is exactly SphereFace's ψ(θ).  For ArcFace it differs from insightface's and
pytorch-metric-learning's fallback ``cos θ − m·sin m`` only where θ + m2 > π.

The paper presets are data (:data:`PRESETS`); each is a frozen :class:`Margin`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import COS_EPS, check_real


def monotone_cos(phi: torch.Tensor) -> torch.Tensor:
    """ψ(φ) = (−1)^k cos φ − 2k with k = ⌊φ/π⌋: cos, continued to be decreasing on ℝ.

    k is piecewise constant, so it is computed without gradient; the gradient is
    exactly d/dφ of the active piece, (−1)^{k+1} sin φ.
    """
    with torch.no_grad():
        k = torch.floor(phi / math.pi)
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)  # (−1)^k, also for negative k
    return sign * torch.cos(phi) - 2.0 * k


@dataclass(frozen=True)
class Margin:
    """``logit_y = scale·(ψ(m1·θ_y + m2) − m3)``; other logits ``scale·cos θ_j``.

    scale: s > 0.  m1 ≥ 1: multiplicative angular margin (SphereFace).  m2 ≥ 0:
    additive angular margin in radians (ArcFace).  m3 ≥ 0: additive cosine margin
    (CosFace).  easy_margin: insightface's ArcFace option — apply the margin only
    where cos θ_y > 0 and use the plain cos θ_y elsewhere; this makes the target
    logit jump up at θ = π/2, so it is *not* monotone (off by default).
    """

    scale: float
    m1: float = 1.0
    m2: float = 0.0
    m3: float = 0.0
    easy_margin: bool = False

    def __post_init__(self) -> None:
        # Normalise to floats (frozen: go through object.__setattr__).
        object.__setattr__(self, "scale", check_real("scale", self.scale, minimum=0.0, strict=True))
        object.__setattr__(self, "m1", check_real("m1", self.m1, minimum=1.0))
        object.__setattr__(self, "m2", check_real("m2", self.m2, minimum=0.0))
        object.__setattr__(self, "m3", check_real("m3", self.m3, minimum=0.0))
        if not isinstance(self.easy_margin, bool):
            raise ValueError(f"easy_margin must be a bool, got {self.easy_margin!r}")

    @property
    def is_angular(self) -> bool:
        """Whether the margin acts on the angle (needs acos) rather than on cos only."""
        return self.m1 != 1.0 or self.m2 != 0.0

    def target_logit(self, cos_y: torch.Tensor) -> torch.Tensor:
        """Scaled target logit for cosines ``cos_y`` of any shape (same shape back)."""
        if not self.is_angular:
            # NormFace / CosFace: ψ(acos c) = c exactly; skipping acos keeps the
            # gradient exact (= s) even at cos = ±1, where the clamp would zero it.
            return self.scale * (cos_y - self.m3)
        theta = torch.acos(cos_y.clamp(-1.0 + COS_EPS, 1.0 - COS_EPS))
        target = monotone_cos(self.m1 * theta + self.m2)
        if self.easy_margin:
            target = torch.where(cos_y > 0, target, cos_y)
        return self.scale * (target - self.m3)

    def logits(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N, C) cosines and (N,) labels → (N, C) logits with the margin on the targets."""
        index = labels.view(-1, 1)
        target = self.target_logit(cos.gather(1, index))  # (N, 1)
        # Out-of-place scatter: the target column's gradient goes only via `target`.
        return (self.scale * cos).scatter(1, index, target)


# Paper defaults.  NormFace: s = 20, i.e. pytorch-metric-learning's
# NormalizedSoftmaxLoss default temperature 0.05 (the NormFace paper learns or
# tunes s; its bound needs s ≳ 10–20 for thousands of classes).
NORMFACE = Margin(scale=20.0)
# Normalized SphereFace as evaluated in the ArcFace paper (Deng et al., Table 2:
# "SphereFace (m=1.35)", s = 64); the original integer-m A-Softmax is ASoftmaxLoss.
SPHEREFACE_NORM = Margin(scale=64.0, m1=1.35)
# CosFace / LMCL (Wang et al. 2018): s = 64, m = 0.35.
COSFACE = Margin(scale=64.0, m3=0.35)
# ArcFace (Deng et al. 2019): s = 64, m = 0.5 rad.
ARCFACE = Margin(scale=64.0, m2=0.5)
# Combined margin, insightface's / the ArcFace paper's CM1: (m1, m2, m3) = (1, 0.3, 0.2).
COMBINED = Margin(scale=64.0, m1=1.0, m2=0.3, m3=0.2)

PRESETS: dict[str, Margin] = {
    "normface": NORMFACE,
    "sphereface_norm": SPHEREFACE_NORM,
    "cosface": COSFACE,
    "arcface": ARCFACE,
    "combined": COMBINED,
}
