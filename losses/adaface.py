"""AdaFace (Kim, Jain & Liu, CVPR 2022): a margin adapted to image quality,
with the feature norm ‖z‖ as the quality proxy.

    ẑ        = clip((‖z‖ − μ_z) / (σ_z / h), −1, 1)        (‖z‖ detached)
    g_angle  = −m · ẑ,      g_add = m · ẑ + m
    logit_y  = s · (cos(θ_y + g_angle) − g_add),   logit_j = s · cos θ_j

μ_z, σ_z are exponential moving averages of the batch mean and (unbiased) std of
‖z‖ with momentum ``t_alpha``: ``μ_z ← t_alpha·mean + (1 − t_alpha)·μ_z``.  They
are registered buffers (``batch_mean``, ``batch_std``; initial 20 and 100 as in
the authors' code), updated in training mode only (like BatchNorm) and *before*
ẑ is computed (as in the authors' code).  A batch of one leaves ``batch_std``
unchanged (its std is undefined).  As in the authors' code the norm is clipped to
[0.001, 100] and σ_z gets ``eps`` = 1e-3 added before dividing.

ẑ = −1 (low norm) gives g_angle = +m, g_add = 0: ArcFace with m; ẑ = 0 gives
g_angle = 0, g_add = m: CosFace with m; ẑ = 1 (high norm) gives g_angle = −m,
g_add = 2m.

Where θ_y + g_angle leaves [0, π] the paper's cos is replaced by the monotone
continuation ψ of :func:`losses.margin.monotone_cos` (the authors' code instead
clips θ_y + g_angle into [eps, π − eps], which makes the target logit flat there
with zero gradient; the unclipped cos(θ_y + g_angle) would even *increase* with
θ_y where θ_y + g_angle < 0).
Inside [0, π] this is exactly the paper's formula.  The target logit then stays
strictly decreasing in θ_y and never exceeds s·cos θ_y: for ẑ ≤ 0, ψ is
decreasing and g_add ≥ 0; for ẑ > 0, ψ is 1-Lipschitz so ψ(θ − mẑ) ≤ cos θ + mẑ,
and g_add = mẑ + m.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import COS_EPS, check_inputs, check_real, compute_dtype
from .classifier import NormalizedClassifier
from .margin import monotone_cos


class AdaFaceLoss(nn.Module):
    """AdaFace loss; ``weight``: (num_classes, embedding_dim) class centres."""

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        scale: float = 64.0,
        margin: float = 0.4,
        h: float = 0.333,
        t_alpha: float = 0.01,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.scale = check_real("scale", scale, minimum=0.0, strict=True)
        self.m = check_real("margin", margin, minimum=0.0)
        self.h = check_real("h", h, minimum=0.0, strict=True)
        self.t_alpha = check_real("t_alpha", t_alpha, minimum=0.0, strict=True, maximum=1.0)
        self.eps = check_real("eps", eps, minimum=0.0, strict=True)
        self.classifier = NormalizedClassifier(embedding_dim, num_classes)
        self.embedding_dim = self.classifier.embedding_dim
        self.num_classes = self.classifier.num_classes
        self.register_buffer("batch_mean", torch.tensor(20.0))
        self.register_buffer("batch_std", torch.tensor(100.0))

    @property
    def weight(self) -> nn.Parameter:
        return self.classifier.weight

    def quality(self, norms: torch.Tensor) -> torch.Tensor:
        """ẑ for (N,) feature norms under the current running statistics (no update)."""
        mean = self.batch_mean.to(norms.dtype)
        std = self.batch_std.to(norms.dtype)
        return ((norms - mean) / (std + self.eps) * self.h).clamp(-1.0, 1.0)

    @torch.no_grad()
    def _update_stats(self, norms: torch.Tensor) -> None:
        a = self.t_alpha
        self.batch_mean.copy_(a * norms.mean() + (1.0 - a) * self.batch_mean.to(norms.dtype))
        if norms.numel() > 1:
            self.batch_std.copy_(a * norms.std() + (1.0 - a) * self.batch_std.to(norms.dtype))

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_inputs(embeddings, labels, self.embedding_dim, self.num_classes)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = embeddings.to(compute_dtype(embeddings, self.weight))
            # Detached: the margin depends on the norm, but no gradient flows into
            # the norm through the margin (paper, Sec. 3.3).
            norms = torch.linalg.vector_norm(x.detach(), dim=1).clamp(0.001, 100.0)  # (N,)
            if self.training:
                self._update_stats(norms)
            z_hat = self.quality(norms).view(-1, 1)  # (N, 1)
            g_angle = -self.m * z_hat
            g_add = self.m * z_hat + self.m
            cos = self.classifier(x)  # (N, C)
            index = labels.view(-1, 1)
            theta = torch.acos(cos.gather(1, index).clamp(-1.0 + COS_EPS, 1.0 - COS_EPS))
            target = self.scale * (monotone_cos(theta + g_angle) - g_add)  # (N, 1)
            return (self.scale * cos).scatter(1, index, target)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, margin={self.m}, h={self.h}, t_alpha={self.t_alpha}"
