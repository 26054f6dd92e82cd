"""Learning on real faces (ORL): each margin loss separates held-out images of the
training identities better than plain softmax.

Setup, the same for every loss: each 92×112 face box-averaged to 23×28 and
standardised (train statistics); a linear embedding layer 644 → 32 trained
jointly with the loss by full-batch SGD (lr 0.01, momentum 0.9, weight decay
5e-4) on identities s1–s20, images 1–7.  Measured on the held-out images 8–10 of
those 20 people (60 images: 60 same / 1710 different pairs) from the learned
embedding: d′ = (mean same − mean different cosine) / pooled std, and the
verification ROC AUC; mean over two seeds.  The layer/optimiser setup was fixed
before the first run; the scale (below) was changed after exploring, and steps
(300 → 200) and seeds (5 → 2) were cut for runtime without changing any
conclusion.

Scale: the normalised losses run at s = 16 here, not the papers' 64.  s = 64 is
chosen for ~10⁴ classes (NormFace's lower bound on s grows like log C); with 20
classes it saturates the softmax after a few steps.  Exploration runs (300
steps, 5 seeds, d′): NormFace 2.27 at s = 64 vs 3.18 at s = 16 vs softmax 2.98;
normalized SphereFace (m1 = 1.35) ties softmax at s = 64 (2.97 vs 2.98) and
reaches 3.54 at s = 16.  At s = 64 ArcFace, CosFace, the combined margin,
sub-centre ArcFace and AdaFace still beat softmax (d′ 3.24–3.48 vs 2.97; 300
steps, 3 seeds); ``test_paper_scale`` re-checks ArcFace, CosFace, AdaFace and
the SphereFace/NormFace finding (a subset, to keep the suite fast).

A-Softmax has no s (logits scale with ‖x‖); its λ schedule is compressed to
this short run (gamma 2: λ reaches lambda_min = 5 at step 100 instead of 1659).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losses import LOSSES, create_loss

PEOPLE, TRAIN_IMAGES, DIM, STEPS, SEEDS = 20, 7, 32, 200, (0, 1)
SCALE = 16.0
SPHEREFACE_SHORT = {"lambda_gamma": 2.0}
NORMALISED = {"normface", "sphereface_norm", "cosface", "arcface", "combined", "subcenter_arcface", "adaface"}
MARGIN_LOSSES = [n for n in LOSSES if n not in ("softmax", "normface")]  # normface: no margin


def separation(emb: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(d′, ROC AUC) of pairwise cosines, same identity vs different identity."""
    e = torch.nn.functional.normalize(emb.double(), dim=1)
    i, j = torch.triu_indices(len(labels), len(labels), 1)
    score = (e[i] * e[j]).sum(1)
    same = labels[i] == labels[j]
    pos, neg = score[same], score[~same]
    d = (pos.mean() - neg.mean()) / ((pos.var() + neg.var()) / 2).sqrt()
    auc = (pos[:, None] > neg[None, :]).double().mean() + 0.5 * (pos[:, None] == neg[None, :]).double().mean()
    return float(d), float(auc)


@pytest.fixture(scope="module")
def orl_split(orl_pixels):
    px = torch.from_numpy(orl_pixels[:PEOPLE])  # (20, 10, 644)
    train = px[:, :TRAIN_IMAGES].reshape(-1, px.shape[-1])
    held = px[:, TRAIN_IMAGES:].reshape(-1, px.shape[-1])
    mu, sd = train.mean(0), train.std(0) + 1e-3
    y_train = torch.arange(PEOPLE).repeat_interleave(TRAIN_IMAGES)
    y_held = torch.arange(PEOPLE).repeat_interleave(px.shape[1] - TRAIN_IMAGES)
    return (train - mu) / sd, y_train, (held - mu) / sd, y_held


def train_and_measure(split, name: str, seed: int, **hyper) -> tuple[float, float, float]:
    x, y, xh, yh = split
    torch.manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], DIM)
    loss = create_loss(name, DIM, PEOPLE, **hyper)
    opt = torch.optim.SGD([*layer.parameters(), *loss.parameters()], lr=0.01, momentum=0.9, weight_decay=5e-4)
    for _ in range(STEPS):
        opt.zero_grad()
        value = loss(layer(x), y)
        value.backward()
        opt.step()
        if name == "sphereface":
            loss.step()  # one λ-schedule iteration per optimiser step
    assert torch.isfinite(value)
    with torch.no_grad():
        d, auc = separation(layer(xh), yh)
    return value.item(), d, auc


def hyper_for(name: str, scale: float | None) -> dict:
    if name == "sphereface":
        return dict(SPHEREFACE_SHORT)
    return {"scale": scale} if (scale is not None and name in NORMALISED) else {}


def measure_all(split, names, scale):
    out = {}
    for name in names:
        runs = np.array([train_and_measure(split, name, s, **hyper_for(name, scale)) for s in SEEDS])
        out[name] = {"train_loss": runs[:, 0].mean(), "d": runs[:, 1].mean(), "auc": runs[:, 2].mean()}
    return out


def table(results) -> str:
    rows = [f"{'loss':18s} {'train CE':>9s} {'held d′':>8s} {'held AUC':>9s}"]
    rows += [f"{n:18s} {r['train_loss']:9.4f} {r['d']:8.3f} {r['auc']:9.4f}" for n, r in results.items()]
    return "\n".join(rows)


@pytest.fixture(scope="module")
def results(orl_split):
    res = measure_all(orl_split, LOSSES, SCALE)
    print(f"\nORL, s = {SCALE:g} for normalised losses, mean of seeds {SEEDS}\n" + table(res))
    return res


def test_softmax_baseline_learns(results):
    # chance is d′ = 0, AUC = 0.5; the raw standardised pixels give about d′ 1.6
    assert results["softmax"]["d"] > 2.0 and results["softmax"]["auc"] > 0.95


@pytest.mark.parametrize("name", MARGIN_LOSSES)
def test_margin_loss_separates_better_than_softmax(results, name):
    base = results["softmax"]
    assert results[name]["d"] > base["d"] + 0.1, table(results)
    assert results[name]["auc"] > base["auc"], table(results)


def test_normface_learns(results):
    """NormFace has no margin; it is only required to learn (it does beat softmax
    at s = 16 here, but not at s = 64 — see the module docstring)."""
    assert results["normface"]["d"] > 2.0


def test_paper_scale(orl_split, results):
    """The papers' s = 64: the additive margins still beat softmax; normalized
    SphereFace (m1 = 1.35) only ties softmax there, but its margin still helps a lot
    over NormFace at the same s = 64 (documented, asserted as such)."""
    names = ["arcface", "cosface", "adaface", "sphereface_norm", "normface"]
    res = measure_all(orl_split, names, 64.0)
    print("\nORL, s = 64 (paper defaults)\n" + table(res))
    base = results["softmax"]
    for name in ["arcface", "cosface", "adaface"]:
        assert res[name]["d"] > base["d"] + 0.1, (name, table(res))
    assert res["sphereface_norm"]["d"] > res["normface"]["d"] + 0.3, table(res)
