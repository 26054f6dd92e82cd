"""Shot-cut detection on real footage: precision and recall of each rule, and its cost per frame.

    python -m benchmarks.scene_cuts --clips DIR --src DIR [--json benchmarks/results/scene_cuts.json]

``--clips``: the joined clips of :mod:`benchmarks.cut_clips` (``joined_hard``, ``joined_dark``,
``joined_fades``, each with its truth JSON); ``--src``: the source files, of which the
continuous ones (:data:`benchmarks.cut_clips.CONTINUOUS`: whip pans, walking, a crowd, and a
real fade through white) are scored as they are. Each frame is decoded once and given to every
detector (:class:`facerec.tracking.SceneCutDetector` with ``"hsv"``, ``"grey"`` and, when
PySceneDetect is installed, ``"content"``).

Scoring: a firing on a frame within a transition (from one frame before its start to one after
its end) finds it (true positive; more firings inside the same transition are counted as
duplicates, harmless to a tracker); any other firing is a false positive. Cost: CPU time per
frame of the detector alone (``time.process_time``; on a shared machine read it as an order
of magnitude).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.cut_clips import CONTINUOUS, iter_frames
from facerec.errors import FacerecError
from facerec.tracking import SceneCutDetector

log = logging.getLogger(__name__)

METHODS = ("hsv", "grey", "content")


def score(fired: Sequence[int], transitions: Sequence[dict]) -> dict[str, int]:
    tp = fp = dup = 0
    found: set[int] = set()
    for f in fired:
        hit = [i for i, t in enumerate(transitions) if t["start"] - 1 <= f <= t["end"] + 1]
        if not hit:
            fp += 1
        elif hit[0] in found:
            dup += 1
        else:
            found.add(hit[0])
            tp += 1
    return {"tp": tp, "fp": fp, "dup": dup, "transitions": len(transitions)}


def clip_list(clips: Path | None, src: Path | None) -> list[tuple[str, Path, list[dict]]]:
    out = []
    if clips is not None:
        for name in ("joined_hard", "joined_dark", "joined_fades"):
            truth = json.loads((clips / f"{name}.json").read_text())
            out.append((name, clips / f"{name}.mp4", truth["transitions"]))
    if src is not None:
        out += [(n, src / n, t) for n, t in CONTINUOUS.items()]
    return out


def make_detectors(methods: Sequence[str]) -> dict[str, SceneCutDetector]:
    dets = {}
    for m in methods:
        try:
            dets[m] = SceneCutDetector(m)
        except FacerecError as exc:
            log.warning("skipping %s: %s", m, exc)
    return dets


def run(clips: list[tuple[str, Path, list[dict]]], methods: Sequence[str]) -> dict:
    per_clip: dict[str, dict] = {}
    totals: dict[str, dict[str, float]] = {}
    for name, path, transitions in clips:
        dets = make_detectors(methods)
        fired: dict[str, list[int]] = {m: [] for m in dets}
        cpu = {m: 0.0 for m in dets}
        n = 0
        for i, frame in enumerate(iter_frames(path)):
            for m, d in dets.items():
                c0 = time.process_time()
                cut = d(frame)
                cpu[m] += time.process_time() - c0
                if cut:
                    fired[m].append(i)
            n += 1
        per_clip[name] = {"frames": n, "transitions": transitions}
        for m in dets:
            s = score(fired[m], transitions)
            per_clip[name][m] = {**s, "fired": fired[m]}
            tot = totals.setdefault(m, {"tp": 0, "fp": 0, "dup": 0, "transitions": 0, "frames": 0, "cpu_s": 0.0})
            for k in ("tp", "fp", "dup", "transitions"):
                tot[k] += s[k]
            tot["frames"] += n
            tot["cpu_s"] += cpu[m]
    summary = {}
    for m, t in totals.items():
        summary[m] = {"precision": t["tp"] / max(1, t["tp"] + t["fp"]), "recall": t["tp"] / max(1, t["transitions"]),
                      **t, "ms_per_frame": 1000 * t["cpu_s"] / max(1, t["frames"])}
    return {"summary": summary, "clips": per_clip}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="precision/recall of shot-cut rules on real footage")
    p.add_argument("--clips", type=Path, help="folder of the joined clips (python -m benchmarks.cut_clips --out)")
    p.add_argument("--src", type=Path, help="folder of the source files (continuous clips are scored as they are)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    res = run(clip_list(args.clips, args.src), args.methods.split(","))
    methods = list(res["summary"])
    print(f"{'clip':34s} " + " ".join(f"{m + ' found/fp':>16s}" for m in methods))
    for name, c in res["clips"].items():
        print(f"{name:34s} " + " ".join(f"{c[m]['tp']:>6d}/{c[m]['transitions']:<3d} fp {c[m]['fp']:<3d}"
                                        for m in methods))
    print()
    print(f"{'method':10s} {'precision':>9s} {'recall':>7s} {'found':>6s} {'false':>6s} {'dup':>4s} {'ms/frame':>9s}")
    for m, s in res["summary"].items():
        print(f"{m:10s} {s['precision']:9.2f} {s['recall']:7.2f} {s['tp']:>3d}/{s['transitions']:<2d} {s['fp']:>6d} "
              f"{s['dup']:>4d} {s['ms_per_frame']:9.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
