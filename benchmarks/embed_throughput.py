"""Embedding throughput (img/s) of facerec backbones vs facenet-pytorch's InceptionResnetV1.

    python -m benchmarks.embed_throughput [--backbones iresnet50 iresnet18 mobilefacenet] [--min-time 3]

Batch 1 and 32, fp32 and bf16 (autocast), ``channels_last`` throughout, random weights
(throughput does not depend on them; InceptionResnetV1 is built with ``pretrained=None`` so
nothing is downloaded). Inputs are real LFW faces aligned with the centre-crop fallback.
BatchNorm statistics are re-estimated on the crops
(:func:`calibrate_batchnorm`). FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add = 2
FLOPs) and compared with this machine's measured ceiling: 0.40 TFLOP/s fp32, 0.81 bf16.
Also reported: agreement of bf16 with fp32 embeddings (cosine, same weights, same crops).

On a shared machine wall-clock throughput measures the neighbours as much as the model, and
OpenMP threads that lose their core stall each other at every barrier. So each call is also
timed in process CPU time: with ``--threads 1`` (no spinning threads) images per CPU-second
is the single-core throughput free of contention, compared with one core's share of the
ceiling (0.20 / 0.405 TFLOP/s); ×2 cores is then an upper bound for the whole machine.

The header says whether the CPU has native bf16 (AMX / AVX512-BF16) and what
``precision="auto"`` picks; fp32 and bf16 rows stand side by side with their ratio.
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
from facerec.runtime.precision import cpu_bf16_capability, resolve_precision
from facerec.alignment import center_crop_landmarks
from pipelines.paths import data_dir

DATA = data_dir()
PEAK_TFLOPS = {"fp32": 0.40, "bf16": 0.81}  # measured on this machine, both cores (DESIGN.md)
CORES = 2
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


def calibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> None:
    """Re-estimate BatchNorm running statistics on ``x``. A freshly initialised deep network in
    eval mode (running mean 0, var 1) has exploding activations: IResNet-50's reach ~1e26,
    its embedding norm overflows and normalises to zero. Throughput does not change; the
    bf16/fp32 agreement then describes realistic activations."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration passes
    model.train()
    with torch.no_grad():
        model(x.contiguous(memory_format=torch.channels_last))
    model.eval()


def build(name: str) -> tuple[Callable[[torch.Tensor, str], torch.Tensor], torch.Tensor, nn.Module]:
    """(forward(x, precision) → (N, D) unit embeddings, (32, 3, H, W) input batch, module)."""
    torch.manual_seed(0)
    if name == FACENET:
        from facenet_pytorch import InceptionResnetV1

        model = InceptionResnetV1(pretrained=None).eval().to(memory_format=torch.channels_last)
        crops = lfw_crops(32, (160, 160), None)
        x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() - 127.5) / 128.0  # facenet's fixed_image_standardization
        calibrate_batchnorm(model, x)
        return (lambda t, p: _facenet_forward(model, t, p)), x, model
    emb = Embedder.create(name, channels_last=True)
    x = emb.preprocessing.to_tensor(lfw_crops(32, emb.preprocessing.size, emb.preprocessing.template))
    calibrate_batchnorm(emb.model, x)

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
                 min_time: float, max_reps: int = 50) -> tuple[list[float], list[float]]:
    """(wall seconds, process CPU seconds) per call: 1 warm-up, then repeat until ``min_time``
    of wall time (at least 3 calls)."""
    fwd(x, precision)
    wall: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(wall) < 3 or (time.perf_counter() - start < min_time and len(wall) < max_reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fwd(x, precision)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbones", nargs="+", default=["iresnet50", "iresnet18", "mobilefacenet"])
    ap.add_argument("--no-facenet", action="store_true")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds of timed calls per configuration")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--out", default="out/embed_throughput.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    names = list(args.backbones) + ([] if args.no_facenet else [FACENET])
    rows = []
    load0 = os.getloadavg()[0]
    auto = resolve_precision("auto", "cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, channels_last; "
          f"load average {load0:.1f} on {os.cpu_count()} cores (shared machine)")
    print(f"CPU bf16: {cpu_bf16_capability()}; precision=auto picks {auto.precision} ({auto.reason})")
    hdr = (f"{'model':<27} {'GFLOP/img':>9} {'prec':>5} {'batch':>5} {'img/s':>7} {'of peak':>7} "
           f"{'img/CPU-s':>9} {'of core peak':>12}")
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
                wall, cpu = time_forward(fwd, xb, precision, args.min_time)
                ips = b / statistics.median(wall)
                ips_cpu = b / statistics.median(cpu)
                peak = PEAK_TFLOPS[precision] * 1e12
                row = {"model": name, "gflop_per_img": flops / 1e9, "precision": precision, "batch": b,
                       "calls": len(wall), "img_per_s": ips, "ms_per_call": 1e3 * statistics.median(wall),
                       "fraction_of_peak": flops * ips / peak, "img_per_cpu_s": ips_cpu,
                       "fraction_of_core_peak": flops * ips_cpu / (peak / CORES)}
                rows.append(row)
                print(f"{name:<27} {flops / 1e9:>9.2f} {precision:>5} {b:>5} {ips:>7.1f} "
                      f"{100 * row['fraction_of_peak']:>6.0f}% {ips_cpu:>9.1f} "
                      f"{100 * row['fraction_of_core_peak']:>11.0f}%", flush=True)
    print("\nbf16 / fp32 throughput (img/s) per model and batch:")
    for name in names:
        for b in args.batches:
            by = {r["precision"]: r for r in rows if r["model"] == name and r["batch"] == b}
            print(f"  {name:<27} batch {b:>3}: {by['bf16']['img_per_s'] / by['fp32']['img_per_s']:.2f}x")
    print("\nbf16 vs fp32 embeddings (same weights, 32 LFW crops): cosine mean / min")
    for name, a in agreement.items():
        print(f"  {name:<27} {a['mean_cosine']:.5f} / {a['min_cosine']:.5f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"load_average": [load0, os.getloadavg()[0]], "threads": torch.get_num_threads(), "peak_tflops": PEAK_TFLOPS, "rows": rows,
                               "cpu_bf16": cpu_bf16_capability(), "auto_precision": auto.precision,
                               "bf16_agreement": agreement}, indent=2))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
