"""Cross-entropy over margin logits: a cosine classifier plus a :class:`Margin`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_inputs, compute_dtype
from .classifier import NormalizedClassifier
from .margin import Margin


class MarginLoss(nn.Module):
    """Mean cross-entropy of ``margin.logits(classifier(embeddings), labels)``.

    ``classifier`` defaults to a :class:`NormalizedClassifier`; pass another one
    (sub-centres, later Partial FC) to change how cosines are produced.  The class
    centres are ``self.weight`` (the classifier's parameter).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        margin: Margin,
        classifier: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(margin, Margin):
            raise ValueError(f"margin must be a Margin, got {type(margin).__name__}")
        self.classifier = classifier if classifier is not None else NormalizedClassifier(
            embedding_dim, num_classes
        )
        self.embedding_dim = self.classifier.embedding_dim
        self.num_classes = self.classifier.num_classes
        if (self.embedding_dim, self.num_classes) != (embedding_dim, num_classes):
            raise ValueError("classifier shape does not match embedding_dim / num_classes")
        self.margin = margin

    @property
    def weight(self) -> nn.Parameter:
        """Class centres, (num_classes, D) — (num_classes*K, D) for sub-centres."""
        return self.classifier.weight

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N, C) float32 (or float64) logits with the margin applied to the targets."""
        check_inputs(embeddings, labels, self.embedding_dim, self.num_classes)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = embeddings.to(compute_dtype(embeddings, self.weight))
            return self.margin.logits(self.classifier(x), labels)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)

    def extra_repr(self) -> str:
        return repr(self.margin)
