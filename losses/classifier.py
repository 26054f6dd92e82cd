"""The cosine classifier: class centres and the (N, C) cosine matrix.

Kept apart from the margin function so a sampled / sharded classifier (Partial
FC) can replace it without touching the margins: anything with ``.weight``,
``.embedding_dim``, ``.num_classes`` and ``forward(features) -> (N, num_classes)
cosines`` fits :class:`losses.margin_loss.MarginLoss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import NORM_EPS, check_positive_int, compute_dtype


def cosine_matrix(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(N, D) features, (M, D) centres → (N, M) cosines, computed in ≥ float32.

    Both sides are L2-normalised with an eps in the denominator, so zero vectors
    give cosine 0 (finite values and gradients) instead of NaN.
    """
    dtype = compute_dtype(features, weight)
    x = F.normalize(features.to(dtype), dim=1, eps=NORM_EPS)
    w = F.normalize(weight.to(dtype), dim=1, eps=NORM_EPS)
    return x @ w.t()


class NormalizedClassifier(nn.Module):
    """Class centres ``weight`` of shape (num_classes, embedding_dim), no bias.

    ``forward(features)`` returns cos θ between each feature and each centre,
    shape (N, num_classes).
    """

    def __init__(self, embedding_dim: int, num_classes: int) -> None:
        super().__init__()
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.weight = nn.Parameter(torch.empty(self._rows(), self.embedding_dim))
        # The scale of the init is irrelevant (centres are normalised); insightface
        # uses N(0, 0.01²) as well.
        nn.init.normal_(self.weight, std=0.01)

    def _rows(self) -> int:
        return self.num_classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return cosine_matrix(features, self.weight)  # (N, C)

    def extra_repr(self) -> str:
        return f"embedding_dim={self.embedding_dim}, num_classes={self.num_classes}"
