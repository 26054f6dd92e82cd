"""Our margin losses vs pytorch-metric-learning on the same real inputs: max relative differences.

    python -m benchmarks.loss_oracle [--out PATH] [--people 20]

Inputs: ORL faces (``$FACEREC_DATA_DIR/orl``, default ``../shared/data/orl``) of the first
``--people`` identities, all 10 images each, box-averaged to 23×28, standardised, and mapped
to 64-d by a fixed seeded Gaussian projection — the same features as the loss tests.  Two sets
of class centres: "means" (per-identity mean of images 1–7 plus N(0, 0.3²) noise per
(sub-)centre, like a trained classifier) and "random" (N(0, 1), like an untrained one).  The
same centres are copied into both implementations (pml stores W as (D, C): transposed).

Pairs compared (ours ↔ pml): normface ↔ NormalizedSoftmaxLoss(temperature = 1/s),
cosface ↔ CosFaceLoss, arcface ↔ ArcFaceLoss(margin in degrees), subcenter_arcface ↔
SubCenterArcFaceLoss, sphereface at λ = 0 ↔ SphereFaceLoss(scale = 1).  For each: the loss
value |a − b|/|b| and, for the gradients w.r.t. embeddings and centres, max|Δ| / max|ref|;
in float32 and float64.  "outside" counts samples with θ_y > π − m, where ArcFace-type losses
differ by design (pml: cos θ − m·sin m; ours: −cos(θ + m) − 2); it is 0 for these inputs.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from losses import create_loss
from pipelines.paths import data_dir

DATA = data_dir()

HYPER = {
    "normface": {"scale": 20.0},
    "cosface": {"scale": 64.0, "margin": 0.35},
    "arcface": {"scale": 64.0, "margin": 0.5},
    "subcenter_arcface": {"scale": 64.0, "margin": 0.5, "sub_centers": 3},
    "sphereface": {"margin": 4, "lambda_base": 0.0, "lambda_min": 0.0},
}
PML_NAME = {
    "normface": "NormalizedSoftmaxLoss",
    "cosface": "CosFaceLoss",
    "arcface": "ArcFaceLoss",
    "subcenter_arcface": "SubCenterArcFaceLoss",
    "sphereface": "SphereFaceLoss (λ=0)",
}


def orl_embeddings(people: int) -> np.ndarray:
    """(people, 10, 64) float64 features from the ORL PGMs."""
    px = np.empty((40, 10, 28 * 23))
    for p in range(40):
        for i in range(10):
            with Image.open(DATA / "orl" / f"s{p + 1}" / f"{i + 1}.pgm") as im:
                a = np.asarray(im.convert("L"), dtype=np.float64)
            px[p, i] = a.reshape(28, 4, 23, 4).mean(axis=(1, 3)).ravel() / 255.0
    x = px.reshape(400, -1)
    x = (x - x.mean(0)) / (x.std(0) + 1e-3)
    proj = np.random.default_rng(1234).standard_normal((x.shape[1], 64)) / np.sqrt(x.shape[1])
    return (x @ proj).reshape(40, 10, 64)[:people]


def pml_twin(name: str, D: int, C: int):
    from pytorch_metric_learning import losses as pml

    h = HYPER[name]
    if name == "normface":
        return pml.NormalizedSoftmaxLoss(C, D, temperature=1.0 / h["scale"])
    if name == "cosface":
        return pml.CosFaceLoss(C, D, margin=h["margin"], scale=h["scale"])
    if name == "arcface":
        return pml.ArcFaceLoss(C, D, margin=math.degrees(h["margin"]), scale=h["scale"])
    if name == "subcenter_arcface":
        return pml.SubCenterArcFaceLoss(
            num_classes=C, embedding_size=D, margin=math.degrees(h["margin"]), scale=h["scale"],
            sub_centers=h["sub_centers"],
        )
    return pml.SphereFaceLoss(C, D, margin=h["margin"], scale=1)


def centres(emb: np.ndarray, name: str, kind: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    C, D = emb.shape[0], emb.shape[-1]
    K = HYPER[name].get("sub_centers", 1)
    if kind == "random":
        return rng.standard_normal((C * K, D))
    return np.repeat(emb[:, :7].mean(axis=1), K, axis=0) + 0.3 * rng.standard_normal((C * K, D))


def outside_count(name: str, x: np.ndarray, labels: np.ndarray, W: np.ndarray) -> int:
    if name not in ("arcface", "subcenter_arcface"):
        return 0
    K = HYPER[name].get("sub_centers", 1)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = (xn @ wn.T).reshape(len(x), -1, K).max(axis=2)[np.arange(len(x)), labels]
    return int((np.arccos(np.clip(cos, -1, 1)) > math.pi - HYPER[name]["margin"]).sum())


def compare(name: str, x: np.ndarray, labels: np.ndarray, W: np.ndarray, dtype: torch.dtype) -> dict:
    D, C = x.shape[1], int(labels.max()) + 1
    ours = create_loss(name, D, C, **HYPER[name]).to(dtype)
    theirs = pml_twin(name, D, C).to(dtype)
    with torch.no_grad():
        ours.weight.copy_(torch.from_numpy(W))
        theirs.W.copy_(torch.from_numpy(W).t())
    res = []
    for module, weight, transpose in ((ours, ours.weight, False), (theirs, theirs.W, True)):
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        value = module(xt, torch.from_numpy(labels))
        value.backward()
        gw = weight.grad.t() if transpose else weight.grad
        res.append((value.double().item(), xt.grad.double(), gw.double()))
    (a, gxa, gwa), (b, gxb, gwb) = res
    return {
        "loss_ours": a,
        "loss_pml": b,
        "loss_rel": abs(a - b) / abs(b),
        "grad_x_rel": float((gxa - gxb).abs().max() / gxb.abs().max()),
        "grad_w_rel": float((gwa - gwb).abs().max() / gwb.abs().max()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "loss_oracle.json"))
    ap.add_argument("--people", type=int, default=20)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors; see tests/losses/conftest.py

    emb = orl_embeddings(args.people)
    x = emb.reshape(-1, emb.shape[-1])
    labels = np.repeat(np.arange(args.people), emb.shape[1])
    rows = []
    header = f"{'ours':18s} {'pml':24s} {'centres':8s} {'dtype':8s} {'loss':>10s} {'loss rel':>9s} {'∇x rel':>9s} {'∇W rel':>9s} {'outside':>7s}"
    print(f"ORL: {args.people} people × 10 images, D = 64 (N = {len(x)})")
    print(header)
    for name in HYPER:
        for kind in ("means", "random"):
            W = centres(emb, name, kind)
            for dtype in (torch.float32, torch.float64):
                r = compare(name, x, labels, W, dtype)
                r.update(name=name, pml=PML_NAME[name], centres=kind, dtype=str(dtype).replace("torch.", ""),
                         outside=outside_count(name, x, labels, W), n=len(x))
                rows.append(r)
                print(f"{name:18s} {r['pml']:24s} {kind:8s} {r['dtype']:8s} {r['loss_ours']:10.5f} "
                      f"{r['loss_rel']:9.2e} {r['grad_x_rel']:9.2e} {r['grad_w_rel']:9.2e} {r['outside']:7d}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"hyper": HYPER, "torch": torch.__version__, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
