"""Distillation losses against their formulas written out separately in numpy (float64)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from losses import DistillLoss


def _cos_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([x @ y / (np.linalg.norm(x) * np.linalg.norm(y)) for x, y in zip(a, b)])


def _gram(a: np.ndarray) -> np.ndarray:
    n = a / np.linalg.norm(a, axis=1, keepdims=True)
    return n @ n.T


@pytest.mark.parametrize("ds,dt", [(16, 16), (24, 8)])
def test_distill_loss_matches_formula(ds: int, dt: int) -> None:
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(7, ds)), rng.normal(size=(7, dt))
    loss = DistillLoss(ds, dt, cosine_weight=0.7, similarity_weight=2.0).double()
    p = loss.projection.weight.detach().numpy() if loss.projection is not None else np.eye(ds)
    assert (loss.projection is None) == (ds == dt)
    cos_term = np.mean(1.0 - _cos_rows(s @ p.T, t))
    off = ~np.eye(7, dtype=bool)
    sim_term = np.mean((_gram(s) - _gram(t))[off] ** 2)
    got = float(loss(torch.from_numpy(s), torch.from_numpy(t)))
    assert got == pytest.approx(0.7 * cos_term + 2.0 * sim_term, rel=1e-10)


def test_distill_loss_is_zero_for_the_teacher_itself_and_gradients_reach_the_student_only() -> None:
    t = torch.randn(5, 12, dtype=torch.float64)
    loss = DistillLoss(12, 12, 1.0, 1.0).double()
    assert float(loss(t.clone(), t)) == pytest.approx(0.0, abs=1e-12)
    s = torch.randn(5, 12, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(5, 12, dtype=torch.float64, requires_grad=True)
    loss(s, teacher).backward()
    assert s.grad is not None and float(s.grad.abs().sum()) > 0 and teacher.grad is None
    # float64 gradient of the similarity term against finite differences
    assert torch.autograd.gradcheck(lambda x: DistillLoss(12, 12, 0.0, 1.0).double()(x, teacher.detach()), (s,))


def test_distill_loss_rejects_no_term() -> None:
    with pytest.raises(ValueError):
        DistillLoss(8, 8, 0.0, 0.0)
