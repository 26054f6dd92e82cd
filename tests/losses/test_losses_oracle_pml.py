"""Our losses against pytorch-metric-learning (pml) with the same weights copied in.

pml conventions (read from pytorch_metric_learning 2.9 source):
* ``W`` is (D, C) — ours is (C, D): transpose when copying;
* ``ArcFaceLoss`` / ``SubCenterArcFaceLoss`` take the margin in DEGREES, and for
  θ_y > π − m use ``cos θ − m·sin m`` where we use ψ(θ + m) = −cos(θ + m) − 2
  (both monotone; they agree for θ_y ≤ π − m, which is what is compared here;
  the difference itself is pinned by ``test_arcface_beyond_pi_differs_from_pml``);
* ``NormalizedSoftmaxLoss`` divides by ``temperature``: temperature = 1/s;
* ``SphereFaceLoss`` is A-Softmax with normalised W, logits scaled by ‖x‖·scale
  (scale=1), ψ(θ) = (−1)^k cos(mθ) − 2k with cos(mθ) by the multiple-angle
  formula, and no λ annealing: it equals our ``sphereface`` at λ = 0;
* sub-centre columns are ``c*K + k`` (cosine viewed as (N, C, K), max over K);
* the default reducer is a plain mean over samples, as ours.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from losses import create_loss

pml_losses = pytest.importorskip("pytorch_metric_learning.losses")

# pml's own numpy-2 deprecation noise (scipy.special.binom on a tensor), not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")

SHARED = ["normface", "cosface", "arcface", "subcenter_arcface", "sphereface"]


def pml_twin(name: str, D: int, C: int, hyper: dict):
    """The pml loss equivalent to ``create_loss(name, D, C, **hyper)``."""
    s = hyper.get("scale")
    if name == "normface":
        return pml_losses.NormalizedSoftmaxLoss(C, D, temperature=1.0 / s)
    if name == "cosface":
        return pml_losses.CosFaceLoss(C, D, margin=hyper["margin"], scale=s)
    if name == "arcface":
        return pml_losses.ArcFaceLoss(C, D, margin=math.degrees(hyper["margin"]), scale=s)
    if name == "subcenter_arcface":
        return pml_losses.SubCenterArcFaceLoss(
            num_classes=C,
            embedding_size=D,
            margin=math.degrees(hyper["margin"]),
            scale=s,
            sub_centers=hyper["sub_centers"],
        )
    if name == "sphereface":
        return pml_losses.SphereFaceLoss(C, D, margin=hyper["margin"], scale=1)
    raise KeyError(name)


HYPER = {
    "normface": {"scale": 20.0},
    "cosface": {"scale": 64.0, "margin": 0.35},
    "arcface": {"scale": 64.0, "margin": 0.5},
    "subcenter_arcface": {"scale": 64.0, "margin": 0.5, "sub_centers": 3},
    "sphereface": {"margin": 4, "lambda_base": 0.0, "lambda_min": 0.0},  # λ = 0
}


def run_pair(name, x: np.ndarray, labels: np.ndarray, W: np.ndarray, dtype=torch.float64):
    """Loss and gradients (d/dx, d/dW as (rows, D)) from ours and from pml."""
    D, C = x.shape[1], int(labels.max()) + 1
    hyper = HYPER[name]
    ours = create_loss(name, D, C, **hyper).to(dtype)
    theirs = pml_twin(name, D, C, hyper).to(dtype)
    assert tuple(ours.weight.shape) == tuple(W.shape)
    with torch.no_grad():
        ours.weight.copy_(torch.from_numpy(W))
        theirs.W.copy_(torch.from_numpy(W).t())
    out = []
    for module, weight in ((ours, ours.weight), (theirs, theirs.W)):
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        value = module(xt, torch.from_numpy(labels))
        value.backward()
        gw = weight.grad if weight is ours.weight else weight.grad.t()
        out.append((value.item(), xt.grad.numpy().copy(), gw.numpy().copy()))
    return out


def random_case(seed: int, name: str, N=32, D=16, C=10):
    rng = np.random.default_rng(seed)
    rows = C * HYPER[name].get("sub_centers", 1)
    labels = rng.integers(0, C, N)
    labels[:C] = np.arange(C)
    return rng.standard_normal((N, D)) * rng.uniform(0.5, 10, (N, 1)), labels, rng.standard_normal((rows, D))


def orl_case(emb: np.ndarray, name: str, people=20):
    """ORL embeddings of `people` identities; centres = class means of images 1–7
    (+ small noise for extra sub-centres), all 10 images as the batch."""
    rng = np.random.default_rng(7)
    x = emb[:people].reshape(-1, emb.shape[-1])
    labels = np.repeat(np.arange(people), emb.shape[1])
    centres = emb[:people, :7].mean(axis=1)  # (C, D)
    K = HYPER[name].get("sub_centers", 1)
    W = np.repeat(centres, K, axis=0) + 0.3 * rng.standard_normal((people * K, emb.shape[-1]))
    return x, labels, W


def assert_close(pair, rtol):
    (lo, gxo, gwo), (lt, gxt, gwt) = pair
    assert lo == pytest.approx(lt, rel=rtol)
    np.testing.assert_allclose(gxo, gxt, rtol=rtol, atol=rtol * np.abs(gxt).max())
    np.testing.assert_allclose(gwo, gwt, rtol=rtol, atol=rtol * np.abs(gwt).max())


def _restrict_to_pml_domain(name, x, labels, W):
    """Drop samples with θ_y > π − m for ArcFace-type losses (see module doc)."""
    if name not in ("arcface", "subcenter_arcface"):
        return x, labels
    K = HYPER[name].get("sub_centers", 1)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = (xn @ Wn.T).reshape(len(x), -1, K).max(axis=2)
    theta = np.arccos(np.clip(cos[np.arange(len(x)), labels], -1, 1))
    keep = theta <= math.pi - HYPER[name]["margin"] - 1e-6
    return x[keep], labels[keep]


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_pml_random(name, seed):
    x, labels, W = random_case(seed, name)
    x, labels = _restrict_to_pml_domain(name, x, labels, W)
    assert_close(run_pair(name, x, labels, W), rtol=1e-9)


@pytest.mark.parametrize("name", SHARED)
def test_matches_pml_on_orl(name, orl_embeddings):
    x, labels, W = orl_case(orl_embeddings, name)
    x2, labels2 = _restrict_to_pml_domain(name, x, labels, W)
    assert len(x2) == len(x)  # real faces sit well inside the shared domain
    assert_close(run_pair(name, x, labels, W), rtol=1e-9)
    # and in float32, the precision used in training
    assert_close(run_pair(name, x, labels, W, dtype=torch.float32), rtol=2e-4)


def test_arcface_beyond_pi_differs_from_pml():
    """Where θ_y > π − m pml uses cos θ − m·sin m; we use −cos(θ + m) − 2. Both are
    monotone and agree (to rounding) up to π − m."""
    m = 0.5
    theirs = pml_losses.ArcFaceLoss(3, 4, margin=math.degrees(m), scale=64)
    theta = torch.linspace(0.01, math.pi - 0.01, 400, dtype=torch.float64)
    cos = torch.cos(theta)
    pml_t = theirs.modify_cosine_of_target_classes(cos)
    ours = create_loss("arcface", 4, 3).margin.target_logit(cos) / 64.0
    inside = theta <= math.pi - m - 1e-9
    torch.testing.assert_close(ours[inside], pml_t[inside], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pml_t[~inside], (cos - m * math.sin(m))[~inside], rtol=1e-12)
    np.testing.assert_allclose(ours[~inside], (-torch.cos(theta + m) - 2)[~inside], rtol=1e-9)
    assert (torch.diff(pml_t) < 0).all() and (torch.diff(ours) < 0).all()
