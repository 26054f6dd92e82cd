"""Training throughput (img/s) of MobileFaceNet and IResNet-50 with ArcFace on CPU.

    python -m benchmarks.train_throughput [--backbones mobilefacenet iresnet50] [--batch 32] [--iters 3]

One training step = the trainer's own :func:`pipelines.training.trainer.train_step` (forward
under autocast, ArcFace over 1,000 classes in fp32, backward, SGD with momentum and weight
decay), ``channels_last``, fp32 and bf16. Random inputs (throughput does not depend on
pixels). Ceiling: a training step costs about 3× the forward FLOPs (forward + two backward
products), counted with ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add = 2
FLOPs), at this machine's 0.40 TFLOP/s fp32 / 0.81 bf16. Short runs (a few iterations after one
warm-up): the CPU is shared, so treat the figures as lower bounds. The header says whether the
CPU has native bf16 and what ``precision = "auto"`` (the presets' setting) picks here; the
table shows fp32 and bf16 side by side so the choice can be checked.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import losses
from facerec.backbones import create_backbone
from facerec.runtime.precision import cpu_bf16_capability, resolve_precision
from pipelines.training.config import config_from_dict
from pipelines.training.trainer import TrainModule, autocast_context, build_optimizer, param_groups, train_step

PEAK_TFLOPS = {"fp32": 0.40, "bf16": 0.81}  # measured on this machine (DESIGN.md)
NUM_CLASSES = 1000


def forward_flops(backbone: torch.nn.Module, batch: int) -> float:
    """Forward FLOPs per image (2 per multiply-add)."""
    x = torch.randn(batch, 3, 112, 112).contiguous(memory_format=torch.channels_last)
    backbone.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        backbone(x)
    backbone.train()
    return fc.get_total_flops() / batch


def measure(name: str, precision: str, batch: int, iters: int) -> dict[str, Any]:
    torch.manual_seed(0)
    backbone = create_backbone(name, embedding_size=512).to(memory_format=torch.channels_last)
    head = losses.create_loss("arcface", 512, NUM_CLASSES)
    flops = forward_flops(backbone, 2)
    cfg = config_from_dict({"optim": {"name": "sgd", "lr": 0.01}})
    opt = build_optimizer(param_groups([backbone, head], cfg), cfg)
    module = TrainModule(backbone, head, autocast_context(precision, torch.device("cpu")))
    x = torch.randn(batch, 3, 112, 112).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, NUM_CLASSES, (batch,))
    times = []
    for i in range(iters + 1):  # the first is a warm-up (allocations, oneDNN kernel selection)
        t = time.perf_counter()
        train_step(module, opt, None, x, y, 0.0, i)
        times.append(time.perf_counter() - t)
    step = statistics.median(times[1:])
    ceiling = PEAK_TFLOPS[precision] * 1e12 / (3 * flops)
    return {"backbone": name, "precision": precision, "batch": batch, "iters": iters,
            "forward_gflop_per_img": flops / 1e9, "step_s": step, "img_per_s": batch / step,
            "ceiling_img_per_s": ceiling, "fraction_of_ceiling": batch / step / ceiling,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=["mobilefacenet", "iresnet50"])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=sorted(PEAK_TFLOPS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=3, help="timed iterations after one warm-up (default: 3)")
    p.add_argument("--out", default="out/train_throughput.json")
    args = p.parse_args(argv)
    auto = resolve_precision("auto", "cpu")
    print(f"CPU bf16: {cpu_bf16_capability()}; precision=auto picks {auto.precision} ({auto.reason}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = [measure(b, pr, args.batch, args.iters) for b in args.backbones for pr in args.precisions]
    print(f"{'backbone':<14}{'prec':<6}{'batch':>6}{'GFLOP/img':>11}{'step s':>9}{'img/s':>8}{'ceiling':>9}{'% ceil':>8}")
    for r in rows:
        print(f"{r['backbone']:<14}{r['precision']:<6}{r['batch']:>6}{r['forward_gflop_per_img']:>11.2f}"
              f"{r['step_s']:>9.2f}{r['img_per_s']:>8.1f}{r['ceiling_img_per_s']:>9.1f}"
              f"{100 * r['fraction_of_ceiling']:>7.0f}%")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for b in args.backbones:
        by = {r["precision"]: r for r in rows if r["backbone"] == b}
        if "fp32" in by and "bf16" in by:
            print(f"{b}: bf16 / fp32 = {by['bf16']['img_per_s'] / by['fp32']['img_per_s']:.2f}x")
    out.write_text(json.dumps({"rows": rows, "peak_tflops": PEAK_TFLOPS, "num_classes": NUM_CLASSES,
                               "cpu_bf16": cpu_bf16_capability(), "auto_precision": auto.precision,
                               "auto_reason": auto.reason}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
