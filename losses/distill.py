"""Embedding distillation: a student's embeddings pulled towards a teacher's.

Two forms, usable together:

- **cosine**: ``1 − cos(P·s_i, t_i)`` averaged over the batch, where ``P`` is a learned linear
  projection from the student's dimension to the teacher's (the identity when they are equal);
- **similarity**: the batch's pairwise cosine-similarity matrix of the student against the
  teacher's, mean squared difference over the off-diagonal entries. It compares geometry only,
  so it needs no equal dimensions and no projection.

The teacher's embeddings are constants (computed once, cached); only the student and ``P``
receive gradients.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cosine_distill(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean of ``1 − cos(student_i, teacher_i)``; both (N, D)."""
    return (1.0 - F.cosine_similarity(student, teacher, dim=1, eps=1e-12)).mean()


def similarity_distill(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the off-diagonal batch cosine matrices; (N, Ds) vs (N, Dt)."""
    n = student.shape[0]
    if n < 2:
        return student.sum() * 0.0  # no pair in the batch: zero, still attached to the graph
    s = F.normalize(student, dim=1, eps=1e-12)
    t = F.normalize(teacher, dim=1, eps=1e-12)
    diff = s @ s.T - t @ t.T  # (N, N)
    off = ~torch.eye(n, dtype=torch.bool, device=diff.device)
    return diff[off].pow(2).mean()


class DistillLoss(nn.Module):
    """``cosine_weight · cosine + similarity_weight · similarity`` (see module docstring).

    ``projection`` exists (a bias-free linear layer, ``student_dim → teacher_dim``) only when
    the cosine term is used and the dimensions differ.
    """

    def __init__(self, student_dim: int, teacher_dim: int, cosine_weight: float = 1.0,
                 similarity_weight: float = 0.0) -> None:
        super().__init__()
        if cosine_weight < 0 or similarity_weight < 0 or cosine_weight + similarity_weight == 0:
            raise ValueError("distillation weights must be >= 0 and not both 0")
        self.cosine_weight, self.similarity_weight = float(cosine_weight), float(similarity_weight)
        self.projection: nn.Module | None = None
        if cosine_weight and student_dim != teacher_dim:
            self.projection = nn.Linear(student_dim, teacher_dim, bias=False)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """student (N, Ds), teacher (N, Dt) (cast to the student's dtype) → scalar loss."""
        teacher = teacher.detach().to(student.dtype)
        loss = student.new_zeros(())
        if self.cosine_weight:
            projected = self.projection(student) if self.projection is not None else student
            loss = loss + self.cosine_weight * cosine_distill(projected, teacher)
        if self.similarity_weight:
            loss = loss + self.similarity_weight * similarity_distill(student, teacher)
        return loss
