"""Plain softmax classifier loss (fully connected layer with bias), the
DeepFace / DeepID baseline: ``logits = x·Wᵀ + b``, no normalisation, no margin."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_inputs, check_positive_int, compute_dtype


class SoftmaxLoss(nn.Module):
    """Mean cross-entropy of ``F.linear(embeddings, weight, bias)``.

    ``weight``: (num_classes, embedding_dim); ``bias``: (num_classes,) or None.
    Initialised like ``nn.Linear``.
    """

    def __init__(self, embedding_dim: int, num_classes: int, bias: bool = True) -> None:
        super().__init__()
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.num_classes = check_positive_int("num_classes", num_classes)
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be a bool, got {bias!r}")
        fc = nn.Linear(self.embedding_dim, self.num_classes, bias=bias)
        self.weight = fc.weight
        self.bias = fc.bias

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N, C) logits in ≥ float32 (labels are only validated)."""
        check_inputs(embeddings, labels, self.embedding_dim, self.num_classes)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            dtype = compute_dtype(embeddings, self.weight)
            bias = None if self.bias is None else self.bias.to(dtype)
            return F.linear(embeddings.to(dtype), self.weight.to(dtype), bias)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)

    def extra_repr(self) -> str:
        return (
            f"embedding_dim={self.embedding_dim}, num_classes={self.num_classes}, "
            f"bias={self.bias is not None}"
        )
