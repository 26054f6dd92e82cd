"""Every loss against its paper's formula, written out here in plain numpy loops
(no helper from the package is used to build the reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from losses import create_loss

N, D, C = 24, 8, 5


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def make_inputs(seed: int, weight_rows: int = C, sub_centers: int = 1):
    """Features at controlled angles θ_y ∈ (0, π) from their class centre.

    Returns (x (N, D), labels (N,), W (weight_rows, D), θ_y (N,)), float64.
    Each x_i = r_i·(cos α_i·ŵ + sin α_i·u_i) with u_i ⟂ ŵ, where ŵ is the first
    sub-centre of class y_i; norms r_i ∈ [0.5, 20].
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((weight_rows, D))
    labels = rng.integers(0, C, N)
    labels[:C] = np.arange(C)  # every class present
    alpha = rng.uniform(0.02, math.pi - 0.02, N)
    x = np.empty((N, D))
    for i in range(N):
        w = _unit(W[labels[i] * sub_centers])
        u = rng.standard_normal(D)
        u = _unit(u - (u @ w) * w)
        x[i] = rng.uniform(0.5, 20.0) * (math.cos(alpha[i]) * w + math.sin(alpha[i]) * u)
    return x, labels, W, alpha


def ce(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy, written out."""
    total = 0.0
    for i in range(len(labels)):
        row = logits[i]
        mx = max(row)
        lse = mx + math.log(sum(math.exp(v - mx) for v in row))
        total += lse - row[labels[i]]
    return total / len(labels)


def cosines(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    out = np.empty((len(x), len(W)))
    for i in range(len(x)):
        for j in range(len(W)):
            out[i, j] = x[i] @ W[j] / (np.linalg.norm(x[i]) * np.linalg.norm(W[j]))
    return out


def ours(name: str, x, labels, W, **hyper) -> float:
    loss = create_loss(name, D, C, **hyper).double()
    with torch.no_grad():
        loss.weight.copy_(torch.from_numpy(W))
        return loss(torch.from_numpy(x), torch.from_numpy(labels)).item()


def psi_sphereface(theta: float, m: float) -> float:
    """SphereFace's ψ: (−1)^k cos(mθ) − 2k for θ ∈ [kπ/m, (k+1)π/m]."""
    for k in range(0, 64):
        if k * math.pi / m <= theta < (k + 1) * math.pi / m:
            return (-1) ** k * math.cos(m * theta) - 2 * k
    raise AssertionError("theta out of range")


# ---------------------------------------------------------------------- softmax


def test_softmax_is_fc_plus_bias():
    x, labels, W, _ = make_inputs(0)
    loss = create_loss("softmax", D, C).double()
    b = np.random.default_rng(1).standard_normal(C)
    with torch.no_grad():
        loss.weight.copy_(torch.from_numpy(W))
        loss.bias.copy_(torch.from_numpy(b))
    logits = np.array([[x[i] @ W[j] + b[j] for j in range(C)] for i in range(N)])
    got = loss(torch.from_numpy(x), torch.from_numpy(labels)).item()
    assert got == pytest.approx(ce(logits, labels), rel=1e-12)


# ------------------------------------------------------------- normalized family


@pytest.mark.parametrize("scale", [20.0, 7.5])
def test_normface(scale):
    x, labels, W, _ = make_inputs(1)
    ref = ce(scale * cosines(x, W), labels)
    hyper = {} if scale == 20.0 else {"scale": scale}
    assert ours("normface", x, labels, W, **hyper) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("scale,m", [(64.0, 0.35), (30.0, 0.2)])
def test_cosface_lmcl(scale, m):
    """CosFace Eq. 4: L = −log e^{s(cos θ_y − m)} / (e^{s(cos θ_y − m)} + Σ_j e^{s cos θ_j})."""
    x, labels, W, _ = make_inputs(2)
    cos = cosines(x, W)
    total = 0.0
    for i in range(N):
        num = math.exp(scale * (cos[i, labels[i]] - m))
        den = num + sum(math.exp(scale * cos[i, j]) for j in range(C) if j != labels[i])
        total += -math.log(num / den)
    got = ours("cosface", x, labels, W, **({} if scale == 64 else {"scale": scale, "margin": m}))
    assert got == pytest.approx(total / N, rel=1e-9)


@pytest.mark.parametrize("scale,m", [(64.0, 0.5), (32.0, 0.3)])
def test_arcface_additive_angular(scale, m):
    """ArcFace Eq. 3 with s·cos(θ_y + m) (all test angles satisfy θ_y + m ≤ π)."""
    x, labels, W, alpha = make_inputs(3)
    keep = alpha + m <= math.pi
    x, labels = x[keep], labels[keep]
    cos = cosines(x, W)
    logits = scale * cos
    for i in range(len(labels)):
        theta = math.acos(cos[i, labels[i]])
        logits[i, labels[i]] = scale * math.cos(theta + m)
    got = ours("arcface", x, labels, W, scale=scale, margin=m)
    assert got == pytest.approx(ce(logits, labels), rel=1e-9)


def test_arcface_beyond_pi_uses_documented_continuation():
    """θ_y + m > π: target is ψ(θ + m) = −cos(θ + m) − 2 (k = 1), not cos(θ + m)."""
    x, labels, W, alpha = make_inputs(4)
    m = 0.5
    assert (alpha + m > math.pi).any()
    cos = cosines(x, W)
    logits = 64.0 * cos
    for i in range(N):
        phi = math.acos(cos[i, labels[i]]) + m
        target = math.cos(phi) if phi <= math.pi else -math.cos(phi) - 2.0
        logits[i, labels[i]] = 64.0 * target
    assert ours("arcface", x, labels, W) == pytest.approx(ce(logits, labels), rel=1e-9)


def test_arcface_easy_margin():
    """insightface's easy margin: cos(θ + m) where cos θ > 0, plain cos θ elsewhere."""
    x, labels, W, _ = make_inputs(5)
    cos = cosines(x, W)
    logits = 64.0 * cos
    for i in range(N):
        c = cos[i, labels[i]]
        logits[i, labels[i]] = 64.0 * (math.cos(math.acos(c) + 0.5) if c > 0 else c)
    got = ours("arcface", x, labels, W, easy_margin=True)
    assert got == pytest.approx(ce(logits, labels), rel=1e-9)


@pytest.mark.parametrize("m", [1.35, 2.0, 4.0])
def test_sphereface_norm_multiplicative(m):
    """s·ψ(m·θ_y) with SphereFace's ψ (k read off the interval by a loop)."""
    x, labels, W, _ = make_inputs(6)
    cos = cosines(x, W)
    logits = 64.0 * cos
    for i in range(N):
        logits[i, labels[i]] = 64.0 * psi_sphereface(math.acos(cos[i, labels[i]]), m)
    got = ours("sphereface_norm", x, labels, W, margin=m)
    assert got == pytest.approx(ce(logits, labels), rel=1e-9)


@pytest.mark.parametrize("m1,m2,m3", [(1.0, 0.3, 0.2), (1.5, 0.4, 0.15), (2.0, 0.5, 0.35)])
def test_combined_applies_all_three(m1, m2, m3):
    """s·(cos(m1·θ + m2) − m3), continued by ψ beyond m1·θ + m2 > π."""
    x, labels, W, _ = make_inputs(7)
    cos = cosines(x, W)
    logits = 64.0 * cos
    for i in range(N):
        phi = m1 * math.acos(cos[i, labels[i]]) + m2
        # ψ(φ) = (−1)^k cos φ − 2k with φ ∈ [kπ, (k+1)π): SphereFace's extension
        k = 0
        while not (k * math.pi <= phi < (k + 1) * math.pi):
            k += 1
        logits[i, labels[i]] = 64.0 * ((-1) ** k * math.cos(phi) - 2 * k - m3)
    got = ours("combined", x, labels, W, m1=m1, m2=m2, m3=m3)
    assert got == pytest.approx(ce(logits, labels), rel=1e-9)


def test_combined_defaults_are_insightface_cm1():
    x, labels, W, alpha = make_inputs(8)
    assert ours("combined", x, labels, W) == pytest.approx(
        ours("combined", x, labels, W, m1=1.0, m2=0.3, m3=0.2), rel=0
    )


@pytest.mark.parametrize("K", [1, 3])
def test_subcenter_arcface(K):
    """Sub-center ArcFace: cos to class c = max_k cos(x, w_{c,k}); row c·K + k."""
    x, labels, W, _ = make_inputs(9, weight_rows=C * K, sub_centers=K)
    all_cos = cosines(x, W)
    cos = np.array([[max(all_cos[i, c * K + k] for k in range(K)) for c in range(C)] for i in range(N)])
    logits = 64.0 * cos
    for i in range(N):
        phi = math.acos(cos[i, labels[i]]) + 0.5
        logits[i, labels[i]] = 64.0 * (math.cos(phi) if phi <= math.pi else -math.cos(phi) - 2)
    loss = create_loss("subcenter_arcface", D, C, sub_centers=K).double()
    assert tuple(loss.weight.shape) == (C * K, D)
    with torch.no_grad():
        loss.weight.copy_(torch.from_numpy(W))
    got = loss(torch.from_numpy(x), torch.from_numpy(labels)).item()
    assert got == pytest.approx(ce(logits, labels), rel=1e-9)


# ------------------------------------------------------------ original A-Softmax


def a_softmax_reference(x, labels, W, m: int, lam: float) -> float:
    """SphereFace (Liu et al. 2017), Eq. 7 with the λ-mixed target of the Caffe layer:
    f_y = ‖x‖ (λ cos θ_y + ψ(θ_y)) / (1 + λ), f_j = ‖x‖ cos θ_j, ‖w‖ = 1, b = 0."""
    logits = np.empty((len(x), len(W)))
    for i in range(len(x)):
        r = np.linalg.norm(x[i])
        for j in range(len(W)):
            c = x[i] @ W[j] / (r * np.linalg.norm(W[j]))
            if j == labels[i]:
                logits[i, j] = r * (lam * c + psi_sphereface(math.acos(c), m)) / (1 + lam)
            else:
                logits[i, j] = r * c
    return ce(logits, labels)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("iteration", [0, 50, 10_000])
def test_a_softmax(m, iteration):
    x, labels, W, _ = make_inputs(10 + m)
    loss = create_loss("sphereface", D, C, margin=m).double()
    loss.set_iteration(iteration)
    lam = max(5.0, 1000.0 * (1 + 0.12 * iteration) ** -1.0)  # Caffe defaults, written out
    assert loss.lambda_ == pytest.approx(lam, rel=1e-12)
    with torch.no_grad():
        loss.weight.copy_(torch.from_numpy(W))
    got = loss(torch.from_numpy(x), torch.from_numpy(labels)).item()
    assert got == pytest.approx(a_softmax_reference(x, labels, W, m, lam), rel=1e-9)


def test_a_softmax_pure_psi_at_lambda_zero():
    x, labels, W, _ = make_inputs(20)
    loss = create_loss("sphereface", D, C, lambda_base=0.0, lambda_min=0.0).double()
    assert loss.lambda_ == 0.0
    with torch.no_grad():
        loss.weight.copy_(torch.from_numpy(W))
    got = loss(torch.from_numpy(x), torch.from_numpy(labels)).item()
    assert got == pytest.approx(a_softmax_reference(x, labels, W, 4, 0.0), rel=1e-9)


# -------------------------------------------------------------------- AdaFace


class AdaFacePaper:
    """Kim et al. 2022, Eqs. for ẑ, g_angle, g_add and the EMA of the norm stats,
    written out per sample (stats update before use, unbiased batch std, σ + eps,
    initial μ = 20, σ = 100, norm clipped to [0.001, 100] — the authors' code)."""

    def __init__(self, s=64.0, m=0.4, h=0.333, alpha=0.01, eps=1e-3):
        self.s, self.m, self.h, self.alpha, self.eps = s, m, h, alpha, eps
        self.mu, self.sigma = 20.0, 100.0

    def __call__(self, x, labels, W, train=True) -> float:
        norms = [min(max(float(np.linalg.norm(v)), 0.001), 100.0) for v in x]
        if train:
            n = len(norms)
            mean = sum(norms) / n
            std = math.sqrt(sum((v - mean) ** 2 for v in norms) / (n - 1))
            self.mu = self.alpha * mean + (1 - self.alpha) * self.mu
            self.sigma = self.alpha * std + (1 - self.alpha) * self.sigma
        cos = cosines(x, W)
        logits = self.s * cos
        for i in range(len(x)):
            z_hat = min(max((norms[i] - self.mu) / ((self.sigma + self.eps) / self.h), -1.0), 1.0)
            g_angle = -self.m * z_hat
            g_add = self.m * z_hat + self.m
            theta = math.acos(cos[i, labels[i]])
            assert 0.0 <= theta + g_angle <= math.pi  # the paper's domain
            logits[i, labels[i]] = self.s * (math.cos(theta + g_angle) - g_add)
        return ce(logits, labels)


def _in_domain_inputs(seed):
    x, labels, W, alpha = make_inputs(seed)
    keep = (alpha > 0.45) & (alpha < math.pi - 0.45)  # θ ± m stays in [0, π]
    return x[keep], labels[keep], W


def test_adaface_training_steps_match_paper():
    loss = create_loss("adaface", D, C).double()
    ref = AdaFacePaper()
    for step in range(3):
        x, labels, W = _in_domain_inputs(30 + step)
        with torch.no_grad():
            loss.weight.copy_(torch.from_numpy(W))
        got = loss(torch.from_numpy(x), torch.from_numpy(labels)).item()
        assert got == pytest.approx(ref(x, labels, W), rel=1e-9)
        assert float(loss.batch_mean) == pytest.approx(ref.mu, rel=1e-12)
        assert float(loss.batch_std) == pytest.approx(ref.sigma, rel=1e-12)


def test_adaface_clipped_quality_both_ends():
    """Stats set so ẑ spans the clip: some samples at −1, some at +1, some inside."""
    x, labels, W = _in_domain_inputs(40)
    loss = create_loss("adaface", D, C, margin=0.3, h=0.5).double().eval()
    ref = AdaFacePaper(m=0.3, h=0.5)
    ref.mu, ref.sigma = 10.0, 2.0
    with torch.no_grad():
        loss.weight.copy_(torch.from_numpy(W))
        loss.batch_mean.fill_(10.0)
        loss.batch_std.fill_(2.0)
    z = (np.linalg.norm(x, axis=1) - 10.0) / (2.001 / 0.5)
    assert (z < -1).any() and (z > 1).any() and (abs(z) < 1).any()
    got = loss(torch.from_numpy(x), torch.from_numpy(labels)).item()
    assert got == pytest.approx(ref(x, labels, W, train=False), rel=1e-9)
    assert float(loss.batch_mean) == 10.0  # eval: no update
