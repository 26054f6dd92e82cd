"""torch.autograd.gradcheck in float64 for every loss (w.r.t. features and centres)."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from losses import LOSSES, create_loss

N, D, C = 4, 5, 3


def _inputs(seed: int, rows: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    x = x * (1.0 + 2.0 * torch.rand(N, 1, generator=g, dtype=torch.float64))  # norms vary
    w = torch.randn(rows, D, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 1])
    return x, w, labels


def _check(loss: torch.nn.Module, x, w, labels, wrt_x: bool = True) -> None:
    # gradcheck on the pure function (x, centres) → loss; other parameters (the
    # softmax bias) stay as they are in the module.
    wname = next(n for n, p in loss.named_parameters() if p is loss.weight)

    def f(xx, ww):
        return functional_call(loss, {wname: ww}, (xx, labels))

    x = x.clone().requires_grad_(wrt_x)
    w = w.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x, w), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in LOSSES if n != "adaface"])
@pytest.mark.parametrize("seed", [0, 1])
def test_gradcheck(name, seed):
    loss = create_loss(name, D, C).double()
    x, w, labels = _inputs(seed, loss.weight.shape[0])
    _check(loss, x, w, labels)


@pytest.mark.parametrize("iteration", [0, 150, 10**6])
def test_gradcheck_a_softmax_lambda(iteration):
    """λ = 1000, ≈ 52, 5 (= lambda_min), and λ = 0 below (pure ψ)."""
    loss = create_loss("sphereface", D, C).double()
    loss.set_iteration(iteration)
    _check(loss, *_inputs(2, C))
    pure = create_loss("sphereface", D, C, lambda_base=0.0, lambda_min=0.0).double()
    _check(pure, *_inputs(3, C))


@pytest.mark.parametrize(
    "name,hyper",
    [
        ("arcface", {"margin": 1.2}),  # θ + m crosses π for some samples: ψ branch k = 1
        ("combined", {"m1": 2.0, "m2": 0.4, "m3": 0.1}),
        ("sphereface_norm", {"margin": 4.0}),
        ("arcface", {"easy_margin": True}),
    ],
)
def test_gradcheck_margin_variants(name, hyper):
    loss = create_loss(name, D, C, **hyper).double()
    x, w, labels = _inputs(4, C)
    if hyper.get("easy_margin"):  # keep away from the jump at cos θ_y = 0
        cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(w, dim=1).t()
        assert cos.gather(1, labels[:, None]).abs().min() > 0.05
    _check(loss, x, w, labels)


def test_gradcheck_adaface():
    """ẑ uses the detached norm, so the loss is only differentiable "as written" w.r.t.
    x where ẑ is clipped (constant); inside the clip range check w.r.t. the centres."""
    loss = create_loss("adaface", D, C).double().eval()  # eval: no stats update per call
    x, w, labels = _inputs(5, C)
    norms = x.norm(dim=1)
    with torch.no_grad():  # all |ẑ| > 1: half the samples far below μ, half far above
        x[0::2] *= 1.0 / norms[0::2, None]
        x[1::2] *= 40.0 / norms[1::2, None]
        loss.batch_mean.fill_(20.0)
        loss.batch_std.fill_(2.0)
    _check(loss, x, w, labels)
    with torch.no_grad():  # |ẑ| < 1 everywhere
        loss.batch_std.fill_(100.0)
    _check(loss, x, w, labels, wrt_x=False)
