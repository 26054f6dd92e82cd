"""Video tracking + identification against the naive loop, on synthetic clips with known truth.

    python -m benchmarks.video [--frames 125] [--every 2 3 5 8] [--naive-frames 20] \
        [--out benchmarks/results/video.json]

Clips: :mod:`benchmarks.video_clips` (real ORL/LFW photos moving on a noisy background: one
person walking and zooming, cuts between people, two people, a stranger beside a known
person, two people crossing), at 640×480 and 1280×720, 25 fps. Gallery: 10 ORL people
enrolled from photos 1–5; clips show their photos 6–10 and people never enrolled.

Methods, each reading the same mp4 files with OpenCV:

* ``tracker N=k`` — :func:`pipelines.video.process_video`: the default detector every k-th frame
  (and on cuts) on a copy sized to the source (320 px for 640-wide frames), constant-velocity tracking in between, a few best crops
  embedded per track (``+mp4``: also drawing and writing the annotated video);
* ``naive`` — detect (the recognizer's detector at full size, default settings) + embed +
  search every face on every frame; ``naive @320`` — the same on the 320-wide copy, to
  separate the gain of a smaller detection frame from the gain of tracking. The naive loops
  run on the first ``--naive-frames`` frames of each clip (they are slow).

Figures: per-frame accuracy (truth faces at least 70 % visible whose shown label is right:
the gallery name, or "unknown" for someone never enrolled), track switches (a truth face
continuing under another track id), label changes within a track, frames per second in wall
time and in process CPU time (on a shared machine CPU time is the cost free of other jobs'
load). Pin it: ``taskset -c 1 env OMP_NUM_THREADS=1 python -m benchmarks.video``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from .machine import cpu_model

RESULTS = Path(__file__).resolve().parent / "results" / "video.json"


class _Shown(NamedTuple):
    """A naive loop's box, shaped like a TrackView for :func:`score_clip`."""

    box: np.ndarray
    label: str
    track_id: int


def _naive(rec: Any, gallery: Any, clip: Any, frames: int,
           detect_width: int | None) -> tuple[dict[int, list], float, float]:
    """Detect + embed + search on every frame: (shown boxes per frame, wall s, CPU s)."""
    import cv2

    from pipelines.video import _detect, frame_detector

    cap = cv2.VideoCapture(str(clip.path))
    shown: dict[int, list] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for f in range(frames):
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if detect_width:
            boxes, _, crops = _detect(rec, rgb, frame_detector(rec, rgb.shape[1], rgb.shape[0], detect_width))
        else:
            faces = rec.faces(rgb, embed=False)
            boxes = np.array([fc.detection.box for fc in faces]).reshape(-1, 4)
            crops = np.stack([fc.crop for fc in faces]) if faces else None
        views = []
        if len(boxes):
            results = gallery.search_embeddings(rec.embedder.embed(crops), k=1)
            views = [_Shown(b, r.identity or "unknown", -1 - k) for k, (b, r) in enumerate(zip(boxes, results))]
        shown[f] = views
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    cap.release()
    return shown, wall, cpu


def _row(method: str, size: tuple[int, int], scores: list[Any], frames: int, wall: float, cpu: float,
         **extra: Any) -> dict[str, Any]:
    faces = sum(s.faces for s in scores)
    correct = sum(s.correct for s in scores)
    return {"method": method, "size": f"{size[0]}x{size[1]}", "frames": frames, "faces": faces,
            "correct": correct, "accuracy": correct / faces if faces else None,
            "wrong": sum(s.wrong for s in scores), "missed": sum(s.missed for s in scores),
            "pending": sum(s.pending for s in scores), "false_boxes": sum(s.false_boxes for s in scores),
            "fps_wall": frames / wall if wall else None, "fps_cpu": frames / cpu if cpu else None,
            "wall_s": wall, "cpu_s": cpu, "clips": {s.name: s.to_dict() for s in scores}, **extra}


def _print_row(r: dict[str, Any]) -> None:
    acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}"
    sw = r.get("track_switches", "-")
    lab = r.get("label_changes", "-")
    cross = r.get("crossing_switches", "-")
    emb = r.get("embeddings_per_frame")
    emb = "-" if emb is None else f"{emb:.2f}"
    print(f"{r['size']:>9} {r['method']:<16} {r['frames']:>6} {acc:>6} {r['wrong']:>5} {r['missed']:>6} {sw!s:>8} "
          f"{lab!s:>7} {cross!s:>6} {r['fps_wall']:>8.1f} {r['fps_cpu']:>8.1f} {emb:>7}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=125, help="frames per clip (default: 125 = 5 s at 25 fps)")
    ap.add_argument("--sizes", nargs="+", default=["640x480", "1280x720"], help="frame sizes WxH")
    ap.add_argument("--every", type=int, nargs="+", default=[2, 3, 5, 8],
                    help="detector intervals to run at the first size (the default one also at the others)")
    ap.add_argument("--naive-frames", type=int, default=20, help="frames per clip for the naive loops (default: 20)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime/OpenCV threads (default: 1)")
    ap.add_argument("--clips", help="folder for the clips (default: a temporary folder)")
    ap.add_argument("--out", default=str(RESULTS), help=f"JSON results (default: {RESULTS})")
    args = ap.parse_args(argv)
    os.environ["FACEREC_ORT_THREADS"] = str(args.threads)  # read when the sessions open, below

    import cv2

    from facerec import FaceRecognizer
    from pipelines.video import DEFAULT_DETECT_EVERY, DEFAULT_DETECT_WIDTH, process_video

    from .video_clips import SCENARIOS, enroll_gallery, make_clips, score_clip

    cv2.setNumThreads(args.threads)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    rec = FaceRecognizer.load()
    gallery = enroll_gallery(rec)
    load0 = os.getloadavg()
    print(f"model {rec.model_id} ({getattr(rec.embedder, 'backbone_name', '?')}, {rec.runtime}), open-set threshold "
          f"{gallery.threshold:.4f}; {len(gallery)} people enrolled; {args.threads} thread(s), CPU affinity "
          f"{sorted(os.sched_getaffinity(0))} of {os.cpu_count()} cores, load average {load0[0]:.2f}")
    hdr = (f"{'size':>9} {'method':<16} {'frames':>6} {'acc %':>6} {'wrong':>5} {'missed':>6} {'switches':>8} "
           f"{'labels':>7} {'cross':>6} {'fps wall':>8} {'fps CPU':>8} {'emb/fr':>7}")
    print(hdr + "\n" + "-" * len(hdr))
    rows: list[dict[str, Any]] = []
    tmp = tempfile.TemporaryDirectory(prefix="facerec-video-")
    folder = Path(args.clips) if args.clips else Path(tmp.name)
    try:
        for si, size in enumerate(sizes):
            clips = make_clips(folder, size, SCENARIOS, frames=args.frames)
            everys = args.every if si == 0 else [DEFAULT_DETECT_EVERY]
            runs = [(every, False) for every in everys] + [(DEFAULT_DETECT_EVERY, True)]
            for every, annotate in runs:
                scores, wall, cpu, nframes, emb, det = [], 0.0, 0.0, 0, 0, 0
                for clip in clips:
                    shown: dict[int, list] = {}
                    out = folder / f"annotated_{clip.path.name}" if annotate else None
                    rep = process_video(rec, gallery, clip.path, detect_every=every, detect_width=DEFAULT_DETECT_WIDTH,
                                        out=out, on_frame=lambda i, v, shown=shown: shown.__setitem__(i, v))
                    scores.append(score_clip(clip, shown))
                    wall, cpu, nframes = wall + rep.wall_s, cpu + rep.cpu_s, nframes + rep.frames
                    emb, det = emb + rep.embeddings, det + rep.detections_run
                cross = next(s for s in scores if s.name == "crossing")
                row = _row(f"tracker N={every}" + (" +mp4" if annotate else ""), size, scores, nframes, wall, cpu,
                           detect_every=every, annotated=annotate,
                           track_switches=sum(s.track_switches for s in scores),
                           label_changes=sum(s.label_changes for s in scores),
                           crossing_switches=cross.track_switches + cross.label_changes,
                           embeddings_per_frame=emb / nframes, detector_passes=det)
                rows.append(row)
                _print_row(row)
            for label, width in (("naive", None), ("naive @320", 320)):
                scores, wall, cpu, nframes = [], 0.0, 0.0, 0
                for clip in clips:
                    n = min(args.naive_frames, clip.frames)
                    shown, w_s, c_s = _naive(rec, gallery, clip, n, width)
                    part = type(clip)(clip.name, clip.path, clip.size, clip.fps, clip.truth[:n])
                    scores.append(score_clip(part, shown))
                    wall, cpu, nframes = wall + w_s, cpu + c_s, nframes + n
                row = _row(label, size, scores, nframes, wall, cpu, embeddings_per_frame=None)
                rows.append(row)
                _print_row(row)
    finally:
        tmp.cleanup()

    def speedup(size: str, every: int) -> dict[str, float] | None:
        tr = next((r for r in rows if r["size"] == size and r.get("detect_every") == every
                   and not r.get("annotated")), None)
        nv = next((r for r in rows if r["size"] == size and r["method"] == "naive"), None)
        if not tr or not nv:
            return None
        return {"wall": tr["fps_wall"] / nv["fps_wall"], "cpu": tr["fps_cpu"] / nv["fps_cpu"]}

    speedups = {f"{w}x{h}": speedup(f"{w}x{h}", DEFAULT_DETECT_EVERY) for w, h in sizes}
    print(f"\nspeed-up of tracker N={DEFAULT_DETECT_EVERY} over the naive loop: "
          + ", ".join(f"{k} {v['wall']:.1f}x wall, {v['cpu']:.1f}x CPU" for k, v in speedups.items() if v))
    doc = {"command": " ".join(["python -m benchmarks.video", *(argv if argv is not None else sys.argv[1:])]),
           "model": rec.model_id, "backbone": getattr(rec.embedder, "backbone_name", None), "runtime": rec.runtime,
           "threshold": gallery.threshold, "gallery_people": len(gallery), "threads": args.threads,
           "cpu_affinity": sorted(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(),
           "processor": cpu_model(), "load_average": [load0, os.getloadavg()],
           "frames_per_clip": args.frames, "naive_frames_per_clip": args.naive_frames,
           "default_detect_every": DEFAULT_DETECT_EVERY, "detect_width": DEFAULT_DETECT_WIDTH,
           "speedup_vs_naive": speedups, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=float))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
