"""One run of one approach on one clip, for :mod:`benchmarks.video_real`; a script, not a module
of the package, so that it runs against whichever ``facerec``/``pipelines`` is first on
``PYTHONPATH`` (today's code extracted from a git revision, or the working tree).

    python benchmarks/video_real_runner.py --clip X.mp4 --enrol DIR --approach tracker|naive \
        [--detect-every N] [--detect-width PX] [--min-face PX] [--frames 0,3,6,...] --out run.json

``tracker``: :func:`pipelines.video.process_video` (its defaults unless overridden), boxes and
labels of every frame through ``on_frame``. ``naive``: detect + embed + gallery search of every
face on every frame (no tracking), on the frames listed by ``--frames`` only (each frame is
independent, so its output there is what a full run would show; its speed is per processed
frame). The gallery is enrolled from ``DIR/NAME/*.png`` (one face per photo, the largest).
Writes ``{"frames": {i: [[track, x1, y1, x2, y2, label], ...]}, "wall_s", "cpu_s", ...}``.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import time
from pathlib import Path


#: process_video arguments a variant may set ("new:cut_detector=off,identity_guard=false").
KNOBS = ("detect_every", "detect_width", "min_face", "lost_timeout_s", "cut_detector", "identity_guard")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--enrol", required=True)
    ap.add_argument("--approach", choices=("tracker", "naive"), required=True)
    ap.add_argument("--detect-every", type=int)
    ap.add_argument("--detect-width", type=int)
    ap.add_argument("--min-face", type=int)
    ap.add_argument("--lost-timeout-s", type=float, help="tracker: seconds a lost track waits to be found again")
    ap.add_argument("--cut-detector", help="tracker: the shot-cut rule (hsv, grey, content, off)")
    ap.add_argument("--identity-guard", type=lambda v: v.lower() in ("1", "true", "yes", "on"),
                    help="tracker: true/false")
    ap.add_argument("--frames", help="naive: comma-separated frame indices to process")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.environ["FACEREC_ORT_THREADS"] = str(args.threads)

    import cv2
    import numpy as np

    from facerec import FaceRecognizer
    from facerec.gallery import Gallery

    cv2.setNumThreads(args.threads)
    rec = FaceRecognizer.load()
    gallery = Gallery(rec)
    for person in sorted(Path(args.enrol).iterdir()):
        gallery.enroll(person.name, [str(p) for p in sorted(person.glob("*.png"))], face="largest")
    shown: dict[int, list] = {}
    info: dict = {"approach": args.approach, "model": rec.model_id, "threshold": gallery.threshold}
    if args.approach == "tracker":
        from pipelines import video

        kw = {}
        params = inspect.signature(video.process_video).parameters
        for name in KNOBS:
            value = getattr(args, name)
            if value is not None:
                if name not in params:
                    raise SystemExit(f"this revision's process_video has no {name}")
                kw[name] = value
        for name in KNOBS:
            if name in params:
                info.setdefault("settings", {})[name] = kw.get(name, params[name].default)

        def on_frame(i: int, views: list) -> None:
            shown[i] = [[int(v.track_id), *[round(float(c), 1) for c in v.box], v.label] for v in views]

        rep = video.process_video(rec, gallery, args.clip, on_frame=on_frame, **kw)
        info.update(frames_processed=rep.frames, wall_s=rep.wall_s, cpu_s=rep.cpu_s,
                    detections_run=rep.detections_run, embeddings=rep.embeddings)
    else:
        from pipelines import video

        todo = {int(f) for f in args.frames.split(",")} if args.frames else None
        cap = cv2.VideoCapture(args.clip)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if hasattr(video, "frame_detector"):
            det = video.frame_detector(rec, w, h, args.detect_width, args.min_face)
            detect = lambda rgb: video._detect(rec, rgb, det)  # noqa: E731
            info["settings"] = {"detect_side": det.detect_side}
        else:
            detect = lambda rgb: video._detect(rec, rgb, args.detect_width or 320)  # noqa: E731
        wall = cpu = 0.0
        n = next_id = 0
        i = -1
        while True:
            ok, bgr = cap.read()
            i += 1
            if not ok:
                break
            if todo is not None and i not in todo:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            boxes, _, crops = detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            rows = []
            if len(boxes):
                for b, r in zip(boxes, gallery.search_embeddings(rec.embedder.embed(crops), k=1)):
                    rows.append([next_id, *[round(float(c), 1) for c in b], r.identity or "unknown"])
                    next_id += 1  # no tracking: every detection is its own "track"
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            shown[i] = rows
            n += 1
        info.update(frames_processed=n, wall_s=wall, cpu_s=cpu)
    info["frames"] = {str(k): v for k, v in shown.items()}
    Path(args.out).write_text(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
