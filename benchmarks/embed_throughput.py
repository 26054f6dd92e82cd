"""Embedding throughput (img/s) of facerec backbones vs facenet-pytorch's InceptionResnetV1.

    python -m benchmarks.embed_throughput [--backbones iresnet50 iresnet18 mobilefacenet] [--min-time 3]

Batch 1 and 32, fp32 and bf16 (autocast), ``channels_last`` throughout, random weights
(throughput does not depend on them; InceptionResnetV1 is built with ``pretrained=None`` so
nothing is downloaded). Inputs are real LFW faces aligned with the centre-crop fallback.
FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add = 2
FLOPs) and compared with this machine's measured ceiling: 0.40 TFLOP/s fp32, 0.81 bf16.
Also reported: agreement of bf16 with fp32 embeddings (cosine, same weights, same crops).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from facerec import Embedder, align_face, load_image
from facerec.alignment import center_crop_landmarks

DATA = Path(os.environ.get("FACEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
PEAK_TFLOPS = {"fp32": 0.40, "bf16": 0.81}  # measured on this machine (DESIGN.md)
FACENET = "facenet-InceptionResnetV1"


def lfw_crops(n: int, size: tuple[int, int], template: str | None) -> np.ndarray:
    """(n, H, W, 3) uint8: LFW images aligned to ``template`` (or resized to ``size`` (W, H))."""
    import cv2

    files = sorted((DATA / "lfw").glob("*/*_0001.jpg"))[: n]
    out = []
    for f in files:
        rgb = load_image(f)
        if template is not None:
            out.append(align_face(rgb, center_crop_landmarks(rgb.shape[1], rgb.shape[0], template), template))
        else:  # facenet-pytorch's convention: a loose crop resized to 160×160
            out.append(cv2.resize(rgb[45:205, 45:205], size, interpolation=cv2.INTER_AREA))
    return np.stack(out)


def _facenet_forward(model: nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        return F.normalize(model(x.contiguous(memory_format=torch.channels_last)).float(), dim=1)


def build(name: str) -> tuple[Callable[[torch.Tensor, str], torch.Tensor], torch.Tensor, nn.Module]:
    """(forward(x, precision) → (N, D) unit embeddings, (32, 3, H, W) input batch, module)."""
    torch.manual_seed(0)
    if name == FACENET:
        from facenet_pytorch import InceptionResnetV1

        model = InceptionResnetV1(pretrained=None).eval().to(memory_format=torch.channels_last)
        crops = lfw_crops(32, (160, 160), None)
        x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() - 127.5) / 128.0  # facenet's fixed_image_standardization
        return (lambda t, p: _facenet_forward(model, t, p)), x, model
    emb = Embedder.create(name, channels_last=True)
    x = emb.preprocessing.to_tensor(lfw_crops(32, emb.preprocessing.size, emb.preprocessing.template))

    def fwd(t: torch.Tensor, precision: str) -> torch.Tensor:
        emb.precision = precision  # same weights, other autocast
        return emb.embed_tensor(t)

    return fwd, x, emb.model


def count_flops(model: nn.Module, x1: torch.Tensor) -> float:
    """FLOPs of one image's forward pass."""
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(x1.contiguous(memory_format=torch.channels_last))
    return float(fc.get_total_flops())


def time_forward(fwd: Callable[[torch.Tensor, str], torch.Tensor], x: torch.Tensor, precision: str,
                 min_time: float, max_reps: int = 50) -> list[float]:
    """Seconds per call: 1 warm-up, then repeat until ``min_time`` (at least 3 calls)."""
    fwd(x, precision)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < max_reps):
        t0 = time.perf_counter()
        fwd(x, precision)
        times.append(time.perf_counter() - t0)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbones", nargs="+", default=["iresnet50", "iresnet18", "mobilefacenet"])
    ap.add_argument("--no-facenet", action="store_true")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds of timed calls per configuration")
    ap.add_argument("--out", default="out/embed_throughput.json")
    args = ap.parse_args(argv)

    names = list(args.backbones) + ([] if args.no_facenet else [FACENET])
    rows = []
    load0 = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, channels_last; "
          f"load average {load0:.1f} on {os.cpu_count()} cores (shared machine)")
    hdr = (f"{'model':<27} {'GFLOP/img':>9} {'prec':>5} {'batch':>5} {'img/s':>8} {'ms/call':>8} "
           f"{'TFLOP/s':>8} {'of peak':>8}")
    print(hdr + "\n" + "-" * len(hdr))
    agreement = {}
    for name in names:
        fwd, x, model = build(name)
        flops = count_flops(model, x[:1])
        with torch.inference_mode():
            e32, e16 = fwd(x, "fp32"), fwd(x, "bf16")
        cos = (e32 * e16).sum(1)
        agreement[name] = {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min())}
        for precision in ("fp32", "bf16"):
            for b in args.batches:
                xb = x[:b].clone()
                times = time_forward(fwd, xb, precision, args.min_time)
                per_call = statistics.median(times)
                ips = b / per_call
                tflops = flops * ips / 1e12
                row = {"model": name, "gflop_per_img": flops / 1e9, "precision": precision, "batch": b,
                       "img_per_s": ips, "ms_per_call": 1e3 * per_call, "calls": len(times),
                       "tflops": tflops, "fraction_of_peak": tflops / PEAK_TFLOPS[precision]}
                rows.append(row)
                print(f"{name:<27} {flops / 1e9:>9.2f} {precision:>5} {b:>5} {ips:>8.1f} {1e3 * per_call:>8.1f} "
                      f"{tflops:>8.3f} {100 * row['fraction_of_peak']:>7.0f}%", flush=True)
    print("\nbf16 vs fp32 embeddings (same weights, 32 LFW crops): cosine mean / min")
    for name, a in agreement.items():
        print(f"  {name:<27} {a['mean_cosine']:.5f} / {a['min_cosine']:.5f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"load_average": [load0, os.getloadavg()[0]], "threads": torch.get_num_threads(), "peak_tflops": PEAK_TFLOPS, "rows": rows,
                               "bf16_agreement": agreement}, indent=2))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
