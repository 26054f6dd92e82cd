"""Tracks that run over a shot cut, and identity-guard splits, on real joined footage.

    python -m benchmarks.tracks_across_cuts --clips DIR [--json benchmarks/results/tracks_across_cuts.json]

For each clip of :mod:`benchmarks.cut_clips` (``joined_hard``, ``joined_dark``,
``joined_fades``) and each tracker setting — the tracker before issue 28 (``cut_detector="grey"``,
``identity_guard=False``), the cut rule alone, the guard alone, and both (the default) — it
runs ``pipelines.video.process_video`` with the default model and an empty gallery (identity
does not matter here: the guard's appearance test does) and counts confirmed tracks whose
frames span a transition (first frame before it, last detection after it: one track, two
shots) and tracks ended by the guard. Detection every 5 frames.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

SETTINGS = {
    "before (grey, no guard)": dict(cut_detector="grey", identity_guard=False),
    "hsv cuts, no guard": dict(cut_detector="hsv", identity_guard=False),
    "no cuts, guard": dict(cut_detector="off", identity_guard=True),
    "hsv cuts + guard (default)": dict(cut_detector="hsv", identity_guard=True),
}


def spans(events: list[dict], transitions: list[dict]) -> tuple[int, int, int]:
    """(tracks spanning a transition, tracks split by the guard, confirmed tracks)."""
    left = [e for e in events if e["event"] == "left"]
    across = sum(1 for e in left if any(e["first_frame"] < t["start"] and e["last_frame"] > t["end"]
                                        for t in transitions))
    return across, sum(1 for e in left if e.get("reason") == "split"), len(left)


def main(argv: Sequence[str] | None = None) -> int:
    from facerec import FaceRecognizer
    from facerec.gallery import Gallery
    from pipelines.video import _reid_threshold, process_video, tracker_config

    p = argparse.ArgumentParser(description="tracks across shot cuts on real footage")
    p.add_argument("--clips", type=Path, required=True)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rec = FaceRecognizer.load()
    gallery = Gallery(rec)
    out: dict = {}
    print(f"{'clip':14s} {'setting':28s} {'across':>6s} {'splits':>6s} {'tracks':>6s}")
    for name in ("joined_hard", "joined_dark", "joined_fades"):
        truth = json.loads((args.clips / f"{name}.json").read_text())
        for label, kw in SETTINGS.items():
            cfg = tracker_config(truth["fps"], reid_similarity=_reid_threshold(rec), **kw)
            report = process_video(rec, gallery, args.clips / f"{name}.mp4", config=cfg, detect_every=5)
            a, s, n = spans(report.events, truth["transitions"])
            out.setdefault(name, {})[label] = {"tracks_across_transitions": a, "splits": s, "tracks": n,
                                               "transitions": len(truth["transitions"])}
            print(f"{name:14s} {label:28s} {a:6d} {s:6d} {n:6d}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
