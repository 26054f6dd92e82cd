"""MTCNN latency per image at 250×250, 640×480 and 1280×720, default vs fast settings.

    python -m benchmarks.detect_latency [--images 10]

Frames are built from real LFW photos: 250×250 is the LFW image itself; larger frames are a
different LFW photo, resized and heavily blurred (texture, no detectable face), with the test
photo pasted in at half the frame height at a seeded random position. "found" counts frames
where a detection's centre lies inside the pasted photo. Settings: default
``MTCNNConfig()`` and fast ``MTCNNConfig(min_face_size=40, factor=0.6)``.

Each frame is timed in wall and process CPU time; on a shared machine run with
``--threads 1``, where CPU time is the latency free of contention (single core).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from facerec import MTCNNConfig, MTCNNDetector, load_image
from pipelines.paths import data_dir

DATA = data_dir()
SIZES = [(250, 250), (640, 480), (1280, 720)]  # (width, height)
SETTINGS = {"default": MTCNNConfig(), "fast": MTCNNConfig(min_face_size=40, factor=0.6)}


def make_frames(n: int, size: tuple[int, int], seed: int = 0) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """``n`` frames of ``size`` (W, H), each with the pasted face's box (x1, y1, x2, y2)."""
    rng = np.random.default_rng(seed)
    files = sorted((DATA / "lfw").glob("*/*_0001.jpg"))
    picks = rng.choice(len(files), size=2 * n, replace=False)
    w, h = size
    frames = []
    for k in range(n):
        face = load_image(files[picks[2 * k]])
        if (w, h) == face.shape[1::-1]:
            frames.append((face, (0, 0, w, h)))
            continue
        bg = cv2.resize(load_image(files[picks[2 * k + 1]]), (w, h), interpolation=cv2.INTER_LINEAR)
        bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=max(w, h) / 40)
        s = h // 2
        x0, y0 = int(rng.integers(0, w - s)), int(rng.integers(0, h - s))
        bg[y0:y0 + s, x0:x0 + s] = cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)
        frames.append((bg, (x0, y0, x0 + s, y0 + s)))
    return frames


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10, help="frames per size")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--out", default="out/detect_latency.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    load0 = os.getloadavg()[0]
    print(f"MTCNN (facenet-pytorch) on CPU, {torch.get_num_threads()} thread(s), {args.images} frames per size, 1 warm-up frame; "
          f"load average {load0:.1f} on {os.cpu_count()} cores (shared machine)")
    hdr = f"{'frame':>10} {'setting':>8} {'median ms':>10} {'p90 ms':>7} {'CPU ms':>7} {'found':>6}"
    print(hdr + "\n" + "-" * len(hdr))
    for size in SIZES:
        frames = make_frames(args.images, size)
        for label, cfg in SETTINGS.items():
            det = MTCNNDetector(cfg)
            det.detect(frames[0][0])  # warm-up
            times, cpu, found = [], [], 0
            for img, (x1, y1, x2, y2) in frames:
                t0, c0 = time.perf_counter(), time.process_time()
                dets = det.detect(img)
                times.append(1e3 * (time.perf_counter() - t0))
                cpu.append(1e3 * (time.process_time() - c0))
                found += any(x1 <= d.center[0] <= x2 and y1 <= d.center[1] <= y2 for d in dets)
            row = {"frame": f"{size[0]}x{size[1]}", "setting": label, "config": cfg.__dict__,
                   "median_ms": statistics.median(times), "mean_ms": statistics.fmean(times),
                   "p90_ms": float(np.percentile(times, 90)), "median_cpu_ms": statistics.median(cpu),
                   "found": found, "frames": len(frames)}
            rows.append(row)
            print(f"{row['frame']:>10} {label:>8} {row['median_ms']:>10.1f} {row['p90_ms']:>7.1f} "
                  f"{row['median_cpu_ms']:>7.1f} {found:>3}/{len(frames)}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"load_average": [load0, os.getloadavg()[0]], "threads": torch.get_num_threads(), "rows": rows}, indent=2, default=list))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
