"""Sub-center classifier (Deng et al., ECCV 2020): K centres per class.

``weight`` has shape (num_classes * K, embedding_dim); row ``c*K + k`` is sub-centre
k of class c (the layout of pytorch-metric-learning's ``SubCenterArcFaceLoss``
with its (D, C*K) ``W`` transposed).  The cosine to a class is the maximum over
its K sub-centres; the margin is then applied to that maximum as usual.
"""

from __future__ import annotations

import torch

from ._checks import check_positive_int
from .classifier import NormalizedClassifier, cosine_matrix


class SubCenterClassifier(NormalizedClassifier):
    """``forward(features)`` → (N, num_classes) max-over-sub-centres cosines."""

    def __init__(self, embedding_dim: int, num_classes: int, sub_centers: int = 3) -> None:
        # Set before super().__init__, which sizes the weight through _rows().
        self.sub_centers = check_positive_int("sub_centers", sub_centers)
        super().__init__(embedding_dim, num_classes)

    def _rows(self) -> int:
        return self.num_classes * self.sub_centers

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        cos = cosine_matrix(features, self.weight)  # (N, C*K)
        # (N, C, K) → max over K; the gradient goes to the winning sub-centre.
        return cos.view(-1, self.num_classes, self.sub_centers).amax(dim=2)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", sub_centers={self.sub_centers}"
