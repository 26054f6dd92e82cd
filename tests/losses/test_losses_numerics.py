"""Monotone target logits, mixed precision, and degenerate inputs (±1 cosines,
zero-norm features) for every registered loss."""

from __future__ import annotations

import math

import pytest
import torch

from losses import LOSSES, PRESETS, Margin, create_loss

THETA = torch.linspace(0.0, math.pi, 2001, dtype=torch.float64)


# ------------------------------------------------------------- monotone margins


def _margins_to_check():
    yield from PRESETS.items()
    yield "arcface m=1.2", Margin(64.0, m2=1.2)
    yield "sphereface m=4", Margin(64.0, m1=4.0)
    yield "combined (2, 0.5, 0.35)", Margin(30.0, m1=2.0, m2=0.5, m3=0.35)
    yield "huge additive m2=3", Margin(8.0, m2=3.0)


@pytest.mark.parametrize("label,margin", list(_margins_to_check()), ids=lambda v: str(v)[:24])
def test_margin_target_strictly_decreasing_and_never_raised(label, margin):
    target = margin.target_logit(torch.cos(THETA))
    assert torch.isfinite(target).all()
    assert (torch.diff(target) < 0).all(), f"{label}: target logit not strictly decreasing"
    assert (target <= margin.scale * torch.cos(THETA) + 1e-9).all()


def test_easy_margin_is_documented_as_non_monotone():
    """insightface's easy margin jumps from −s·sin m up to 0 at θ = π/2 (kept as an
    option for compatibility, off by default) but still never raises the logit."""
    margin = Margin(64.0, m2=0.5, easy_margin=True)
    target = margin.target_logit(torch.cos(THETA))
    assert (torch.diff(target) > 0).any()
    assert (target <= 64.0 * torch.cos(THETA) + 1e-9).all()
    assert not PRESETS["arcface"].easy_margin


def _target_and_plain(loss, theta: torch.Tensor, r: float = 1.0):
    """Logit of class 0 for x = r·(cos θ, sin θ), once with label 0 (target, margin
    applied) and once with label 1 (plain, no margin).  Class centres: e0, e1 (all
    sub-centres of a class identical)."""
    with torch.no_grad():
        rows = loss.weight.shape[0] // 2
        w = torch.zeros_like(loss.weight)
        w[:rows, 0] = 1.0
        w[rows:, 1] = 1.0
        loss.weight.copy_(w)
        if getattr(loss, "bias", None) is not None:
            loss.bias.zero_()
        x = r * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
        target = loss.logits(x, torch.zeros(len(theta), dtype=torch.long))[:, 0]
        plain = loss.logits(x, torch.ones(len(theta), dtype=torch.long))[:, 0]
    return target, plain


def _variants():
    for name in LOSSES:
        yield name, {}, None
    yield "sphereface", {"lambda_base": 0.0, "lambda_min": 0.0}, None  # λ = 0: pure ψ
    yield "sphereface", {}, 10**6  # λ = lambda_min = 5
    for z_norm in (1.0, 5.0, 10.0, 15.0, 19.0):  # AdaFace ẑ from −1 to +1 (μ=10, σ=3)
        yield "adaface", {}, z_norm


@pytest.mark.parametrize("name,hyper,extra", list(_variants()))
def test_loss_target_logit_monotone_and_below_plain(name, hyper, extra):
    """Through the public loss: the target logit decreases strictly in θ on [0, π]
    and never exceeds the same class's logit without the margin."""
    loss = create_loss(name, 2, 2, **hyper).double().eval()
    r = 3.0
    if name == "sphereface" and extra is not None:
        loss.set_iteration(extra)
    if name == "adaface":
        loss.batch_mean.fill_(10.0)
        loss.batch_std.fill_(3.0)
        r = extra if extra is not None else r
    target, plain = _target_and_plain(loss, THETA, r)
    assert torch.isfinite(target).all()
    assert (torch.diff(target) < 0).all()
    assert (target <= plain + 1e-9).all()


# ------------------------------------------------------------- mixed precision


@pytest.mark.parametrize("name", LOSSES)
def test_bf16_autocast_gives_float32_loss(name):
    torch.manual_seed(0)
    backbone = torch.nn.Linear(12, 8)
    loss = create_loss(name, 8, 6)
    x = torch.randn(10, 12)
    y = torch.arange(10) % 6
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = backbone(x)
        value = loss(emb, y)
    assert emb.dtype == torch.bfloat16  # autocast really was on
    assert value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert all(torch.isfinite(p.grad).all() for p in [*backbone.parameters(), *loss.parameters()])
    # the logits were computed in float32 from the bf16 embeddings, not in bf16
    loss.eval()  # AdaFace: no running-stats update between the two calls
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a = loss.logits(emb.detach(), y)
    b = loss.logits(emb.detach().float(), y)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("half_module", [False, True])
def test_fp16_inputs_give_float32_loss(name, half_module):
    torch.manual_seed(1)
    loss = create_loss(name, 8, 6)
    if half_module:
        loss = loss.half()
    x = (3 * torch.randn(10, 8)).half().requires_grad_()
    y = torch.arange(10) % 6
    value = loss(x, y)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(loss.weight.grad).all()


# ------------------------------------------------------------- degenerate inputs


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exact_unit_cosines_and_zero_features(name, dtype):
    """cos θ_y exactly 1 and −1, cos θ_j exactly ±1, and an all-zero feature."""
    C, D = 3, 3
    loss = create_loss(name, D, C).to(dtype)
    K = loss.weight.shape[0] // C
    with torch.no_grad():
        loss.weight.copy_(torch.eye(C, dtype=dtype).repeat_interleave(K, dim=0))
    x = torch.tensor(
        [[1, 0, 0], [-1, 0, 0], [0, 0, 5], [0, 0, 0], [0, -2, 0]], dtype=dtype, requires_grad=True
    )
    y = torch.tensor([0, 0, 2, 1, 2])
    value = loss(x, y)
    assert torch.isfinite(value)
    value.backward()
    assert torch.isfinite(x.grad).all()
    assert torch.isfinite(loss.weight.grad).all()


@pytest.mark.parametrize("name", LOSSES)
def test_large_norm_features_finite(name):
    loss = create_loss(name, 4, 3)
    x = torch.randn(6, 4) * 1e4
    value = loss(x.requires_grad_(), torch.arange(6) % 3)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
