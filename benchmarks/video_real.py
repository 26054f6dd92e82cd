"""``facerec video`` on real footage with hand-checked labels: three approaches side by side, and
recall of labelled faces by size against the detection copy's size.

    python -m benchmarks.video_real [run] [--approaches naive today new] [--videos DIR]
    python -m benchmarks.video_real sizes [--videos DIR]
    python -m benchmarks.video_real frame --clips selfie_640x480 --at 120   # docs/video_frame.png

The clips (:mod:`benchmarks.make_video_clips`, sources in ``benchmarks/video_real.json``) are
real, openly licensed video segments joined with hard cuts: ``selfie_640x480`` (three people
taking turns at a hand-held camera, an indoor group of five), ``hikers_640x360`` (a group of
hikers, faces 10–90 px) and ``mixed_1920x1080`` (both, scaled ×3). Set ``$FACEREC_VIDEOS_DIR``
(or ``--videos``) to the folder they were written to. The gallery is enrolled from photos cut
from frames outside every test segment (``enrol/NAME/``); the other people are strangers, whose
right name is "unknown".

Labels (``benchmarks/video_real_labels.json``): every third frame of each source segment,
each face's box and who it is, proposed by YuNet on a ×2 copy and checked by eye on contact
sheets; faces whose short side is under ``ignore_below`` source pixels are "ignore" (neither
required nor counted as false positives). Clip labels follow from the segments' crops and scale.

``run`` — approaches, each over the same mp4 files, in a fresh process each:

* ``naive``: detect + embed + search every face on every frame (the video detection rule of the
  code on the path), no tracking (each detection its own track);
* ``today``: ``facerec video``'s tracker as of main at commit ``b019065`` (extracted with
  ``git archive`` into a temporary folder and run with ``PYTHONPATH`` pointing there);
* ``new``: ``facerec video`` of the code on the path (this working tree).

Metrics on the labelled frames (py-motmetrics, IoU ≥ 0.5): MOTA, IDF1 and ID switches; the
fraction of labelled faces ≥ 40 px (short side, clip pixels) shown with the right name (the
enrolled name, or "unknown" for a stranger; a missed face or a pending "?" counts as wrong);
recall of labelled faces by size; tracks that carry a name across a cut; frames per second
(wall and process CPU). Pin it for timings: ``taskset -c 1 env OMP_NUM_THREADS=1 python -m
benchmarks.video_real``.

``sizes`` — the detection rule alone (:meth:`facerec.detection.bounded.BoundedDetector.for_frames`) at
several copy sizes per clip: recall of labelled faces per size bin and CPU ms per frame.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from facerec.tracking import iou_matrix

from .machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
MANIFEST = Path(__file__).with_name("video_real.json")
LABELS = Path(__file__).with_name("video_real_labels.json")
RUNNER = Path(__file__).with_name("video_real_runner.py")
RESULTS = Path(__file__).resolve().parent / "results" / "video_real.json"
VIDEOS_ENV = "FACEREC_VIDEOS_DIR"
TODAY = "b019065"           # main before the video work of issue 28: "today's tracker"
NAMED_MIN = 40              # faces at least this big (short side, clip pixels) must be named right
MATCH_IOU = 0.5
SIZE_BINS = (0, 24, 40, 60, 100, 10_000)
IGNORE = "ignore"
UNKNOWN = "unknown"

Box = Sequence[float]


# -- labels -----------------------------------------------------------------------------------
def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def clip_truth(manifest: Mapping[str, Any], labels: Mapping[str, Any],
               clip: Mapping[str, Any]) -> tuple[dict[int, list[tuple[list[float], str]]], list[int]]:
    """A clip's labelled frames → [(box in clip pixels, person or "ignore")], and the frames
    where its segments start (its cuts, the first being 0)."""
    w, h = clip["size"]
    ch = clip["crop_height"]
    sw = manifest["sources"][clip["segments"][0][0]]["size"][0]
    s = w / sw
    truth: dict[int, list[tuple[list[float], str]]] = {}
    starts, offset = [], 0
    for src, first, end, y0 in clip["segments"]:
        starts.append(offset)
        frames = labels["sources"][src]
        for f in range(first, end):
            faces = frames.get(str(f))
            if faces is None:
                continue
            out = []
            for x1, y1, x2, y2, who in faces:
                c1, c2 = max(y1, y0), min(y2, y0 + ch)
                if c2 - c1 < 0.6 * (y2 - y1):  # mostly outside this crop
                    if c2 > c1:
                        out.append(([x1 * s, (c1 - y0) * s, x2 * s, (c2 - y0) * s], IGNORE))
                    continue
                who = who if min(x2 - x1, y2 - y1) >= labels["ignore_below"] else IGNORE
                out.append(([x1 * s, (c1 - y0) * s, x2 * s, (c2 - y0) * s], who))
            truth[offset + f - first] = out
        offset += end - first
    return truth, starts


def expected_name(person: str, enrolled: Iterable[str]) -> str:
    return person if person in set(enrolled) else UNKNOWN


# -- metrics ----------------------------------------------------------------------------------
_iou = iou_matrix  # (N, 4) × (M, 4) boxes → (N, M) IoU: the tracker's one definition


def _match(gt: np.ndarray, hyp: np.ndarray, thr: float = MATCH_IOU) -> list[tuple[int, int]]:
    """One-to-one pairs (gt, hyp) of IoU ≥ ``thr`` maximising total IoU (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    if len(gt) == 0 or len(hyp) == 0:
        return []
    m = _iou(gt, hyp)
    r, c = linear_sum_assignment(-m)
    return [(int(i), int(j)) for i, j in zip(r, c) if m[i, j] >= thr]


def score(truth: Mapping[int, Sequence[tuple[Box, str]]], shown: Mapping[int, Sequence[Sequence[Any]]],
          starts: Sequence[int], enrolled: Iterable[str], named_min: int = NAMED_MIN) -> dict[str, Any]:
    """Scores of one clip: ``truth`` per labelled frame [(box, person or "ignore")], ``shown``
    per frame [[track, x1, y1, x2, y2, label], ...] (a frame missing from ``shown`` shows
    nothing), ``starts``: the first frame of each shot. Only labelled frames are scored."""
    import motmetrics as mm

    enrolled = set(enrolled)
    acc = mm.MOTAccumulator(auto_id=False)
    pid: dict[str, int] = {}
    named = named_total = 0
    found = np.zeros(len(SIZE_BINS) - 1, int)
    total = np.zeros(len(SIZE_BINS) - 1, int)
    for f in sorted(truth):
        faces = [(np.asarray(b, float), p) for b, p in truth[f]]
        gt = [(b, p) for b, p in faces if p != IGNORE]
        ign = np.array([b for b, p in faces if p == IGNORE]).reshape(-1, 4)
        hyp = list(shown.get(f, []))
        hb = np.array([h[1:5] for h in hyp], float).reshape(-1, 4)
        gb = np.array([b for b, _ in gt]).reshape(-1, 4)
        pairs = _match(gb, hb)
        if len(ign) and len(hb):  # a box on an ignored face that no labelled face explains is not counted
            paired = {j for _, j in pairs}
            ig = _iou(hb, ign).max(axis=1)
            keep = [j for j in range(len(hb)) if j in paired or ig[j] < MATCH_IOU]
            remap = {j: k for k, j in enumerate(keep)}
            hyp, hb = [hyp[j] for j in keep], hb[keep]
            pairs = [(i, remap[j]) for i, j in pairs]
        dist = np.full((len(gb), len(hb)), np.nan)
        for i, j in pairs:  # the same matching for motmetrics as for naming
            dist[i, j] = 1.0 - _iou(gb[i:i + 1], hb[j:j + 1])[0, 0]
        # motmetrics wants numeric ids: people numbered in order of first appearance
        acc.update([pid.setdefault(p, len(pid)) for _, p in gt], [int(h[0]) for h in hyp], dist, frameid=f)
        byg = dict(pairs)
        for i, (b, p) in enumerate(gt):
            side = min(b[2] - b[0], b[3] - b[1])
            k = int(np.searchsorted(SIZE_BINS, side, side="right")) - 1
            total[k] += 1
            found[k] += i in byg
            if side >= named_min:
                named_total += 1
                named += i in byg and hyp[byg[i]][5] == expected_name(p, enrolled)
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "num_false_positives", "num_misses",
                                 "num_objects"], name="clip")
    # A track shown with a name on both sides of a cut carries it into the other shot.
    shot_of = lambda f: int(np.searchsorted(starts, f, side="right")) - 1  # noqa: E731
    shots: dict[Any, set[int]] = {}
    for f, rows in shown.items():
        for r in rows:
            if r[5] not in ("?", ""):
                shots.setdefault(r[0], set()).add(shot_of(int(f)))
    across = sorted(str(t) for t, sh in shots.items() if len(sh) > 1)
    bins = [f"{SIZE_BINS[k]}-{SIZE_BINS[k + 1]}" if k + 2 < len(SIZE_BINS) else f">={SIZE_BINS[k]}"
            for k in range(len(SIZE_BINS) - 1)]
    return {"mota": float(s["mota"].iloc[0]), "idf1": float(s["idf1"].iloc[0]),
            "id_switches": int(s["num_switches"].iloc[0]), "false_positives": int(s["num_false_positives"].iloc[0]),
            "misses": int(s["num_misses"].iloc[0]), "objects": int(s["num_objects"].iloc[0]),
            "named_right": named, "named_total": named_total,
            "named_fraction": named / named_total if named_total else None,
            "recall_by_size": {b: [int(fd), int(t)] for b, fd, t in zip(bins, found, total)},
            "tracks_named_across_cut": across}


# -- running ----------------------------------------------------------------------------------
def _videos(args: argparse.Namespace, manifest: Mapping[str, Any]) -> Path:
    if args.videos is None:
        raise SystemExit(f"no clip folder: set ${VIDEOS_ENV} or --videos (see {MANIFEST.name}'s fetch steps)")
    folder = Path(args.videos)
    missing = [c["name"] for c in manifest["clips"] if not (folder / f"{c['name']}.mp4").is_file()]
    if missing or not (folder / "enrol").is_dir():
        raise SystemExit(f"{folder}: missing {', '.join(missing) or 'enrol/'}: run python -m benchmarks.make_video_clips")
    return folder


def extract_revision(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev`` of this repository, unpacked under ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_one(approach: str, clip: Path, enrol: Path, out: Path, *, pythonpath: Path = REPO,
            frames: Sequence[int] | None = None, extra: Sequence[str] = (), threads: int = 1) -> dict[str, Any]:
    """One run of :mod:`benchmarks.video_real_runner` in a fresh process with ``pythonpath``."""
    cmd = [sys.executable, str(RUNNER), "--clip", str(clip), "--enrol", str(enrol), "--approach", approach,
           "--out", str(out), "--threads", str(threads), *extra]
    if frames is not None:
        cmd += ["--frames", ",".join(map(str, frames))]
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": str(threads)}
    subprocess.run(cmd, check=True, env=env, cwd=str(pythonpath))
    return json.loads(out.read_text())


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def run(args: argparse.Namespace) -> dict[str, Any]:
    manifest, labels = load_json(MANIFEST), load_json(LABELS)
    folder = _videos(args, manifest)
    enrolled = labels["enrolled"]
    rows: list[dict[str, Any]] = []
    hdr = (f"{'clip':<16} {'approach':<14} {'MOTA':>6} {'IDF1':>6} {'IDsw':>5} {'named>=40':>10} {'recall':>7} "
           f"{'cut':>4} {'fps':>6} {'fps CPU':>8}")
    print(hdr + "\n" + "-" * len(hdr), flush=True)
    with tempfile.TemporaryDirectory(prefix="facerec-video-real-") as tmp:
        today = extract_revision(args.today, Path(tmp) / "today") if "today" in args.approaches else None
        for clip in manifest["clips"]:
            if args.clips and clip["name"] not in args.clips:
                continue
            truth, starts = clip_truth(manifest, labels, clip)
            path = folder / f"{clip['name']}.mp4"
            for approach in args.approaches:
                name, _, variant = approach.partition(":")
                extra: list[str] = []
                for kv in filter(None, variant.split(",")):
                    k, _, v = kv.partition("=")
                    extra += [f"--{k.replace('_', '-')}", v]
                kind = "naive" if name == "naive" else "tracker"
                out = Path(tmp) / f"{clip['name']}_{approach.replace(':', '_').replace(',', '_')}.json"
                res = run_one(kind, path, folder / "enrol", out, pythonpath=today if name == "today" else REPO,
                              frames=sorted(truth) if kind == "naive" else None, extra=extra, threads=args.threads)
                shown = {int(k): v for k, v in res.pop("frames").items()}
                sc = score(truth, shown, starts, enrolled)
                n = res["frames_processed"]
                rec = [sum(v[0] for v in sc["recall_by_size"].values()), sum(v[1] for v in sc["recall_by_size"].values())]
                row = {"clip": clip["name"], "size": clip["size"], **sc,
                       "recall": rec[0] / rec[1] if rec[1] else None,
                       "fps_wall": n / res["wall_s"] if res["wall_s"] else None,
                       "fps_cpu": n / res["cpu_s"] if res["cpu_s"] else None,
                       **{k: v for k, v in res.items() if k not in ("wall_s", "cpu_s", "approach")},
                       "runner": res["approach"], "approach": approach, "wall_s": res["wall_s"], "cpu_s": res["cpu_s"]}
                rows.append(row)
                print(f"{clip['name']:<16} {approach:<14} {sc['mota']:>6.3f} {sc['idf1']:>6.3f} {sc['id_switches']:>5} "
                      f"{_fmt(sc['named_fraction'], '.3f'):>10} {_fmt(row['recall'], '.3f'):>7} "
                      f"{len(sc['tracks_named_across_cut']):>4} {_fmt(row['fps_wall'], '.1f'):>6} "
                      f"{_fmt(row['fps_cpu'], '.1f'):>8}", flush=True)
    return {"rows": rows, "today": args.today}


def sizes(args: argparse.Namespace) -> dict[str, Any]:
    """Recall of labelled faces by size and CPU ms per frame for several detection copy sizes."""
    import cv2

    from facerec import FaceRecognizer
    from pipelines.video import frame_detector

    manifest, labels = load_json(MANIFEST), load_json(LABELS)
    folder = _videos(args, manifest)
    cv2.setNumThreads(args.threads)
    rec = FaceRecognizer.load()
    rows = []
    bins = None
    print(f"{'clip':<16} {'copy':>10} {'side':>5} {'ms/frame':>9}  recall by face size (clip px): found/labelled")
    for clip in manifest["clips"]:
        if args.clips and clip["name"] not in args.clips:
            continue
        truth, starts = clip_truth(manifest, labels, clip)
        w, h = clip["size"]
        frames = {}
        cap = cv2.VideoCapture(str(folder / f"{clip['name']}.mp4"))
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if i in truth:
                frames[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1
        choices = [("auto", None)] + [(str(s), s) for s in args.sides if s < w] + [("full", 0)]
        for label, side in choices:
            det = frame_detector(rec, w, h, side)
            shown, cpu = {}, 0.0
            det.detect(next(iter(frames.values())))  # warm-up (session, buffers)
            for f, rgb in frames.items():
                c0 = time.process_time()
                found = det.detect(rgb)
                cpu += time.process_time() - c0
                shown[f] = [[k, *map(float, d.box), "?"] for k, d in enumerate(found)]
            sc = score(truth, shown, starts, labels["enrolled"])
            bins = list(sc["recall_by_size"])
            row = {"clip": clip["name"], "copy": label, "detect_side": det.detect_side,
                   "ms_per_frame_cpu": 1000 * cpu / len(frames), "recall_by_size": sc["recall_by_size"],
                   "false_positives": sc["false_positives"]}
            rows.append(row)
            rb = "  ".join(f"{b}:{v[0]}/{v[1]}" for b, v in sc["recall_by_size"].items() if v[1])
            print(f"{clip['name']:<16} {label:>10} {det.detect_side:>5} {row['ms_per_frame_cpu']:>9.1f}  {rb}",
                  flush=True)
    return {"rows": rows, "bins": bins}


def annotated_frame(args: argparse.Namespace) -> dict[str, Any]:
    """One frame of a clip as ``facerec video --out`` draws it (the pipeline's own
    :func:`pipelines.video.draw_tracks`), saved as a palette PNG for the docs."""
    import cv2
    from PIL import Image

    from facerec import FaceRecognizer
    from facerec.gallery import Gallery
    from pipelines.video import draw_tracks, process_video

    manifest = load_json(MANIFEST)
    folder = _videos(args, manifest)
    clip = args.clips[0] if args.clips else manifest["clips"][0]["name"]
    rec = FaceRecognizer.load()
    gallery = Gallery(rec)
    for person in sorted((folder / "enrol").iterdir()):
        gallery.enroll(person.name, [str(p) for p in sorted(person.glob("*.png"))], face="largest")
    views: list = []
    process_video(rec, gallery, folder / f"{clip}.mp4", max_frames=args.at + 1,
                  on_frame=lambda i, v: views.extend(v) if i == args.at else None)
    cap = cv2.VideoCapture(str(folder / f"{clip}.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, args.at)
    ok, bgr = cap.read()
    if not ok:
        raise SystemExit(f"{clip}: no frame {args.at}")
    rgb = cv2.cvtColor(draw_tracks(bgr, views), cv2.COLOR_BGR2RGB)
    png = Path(args.png)
    png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).quantize(colors=args.colors, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    print(f"wrote {png} ({png.stat().st_size // 1024} KB): {clip} frame {args.at}, "
          + ", ".join(f"#{v.track_id} {v.label}" for v in views))
    return {"clip": clip, "frame": args.at, "png": str(png), "shown": [[v.track_id, v.label] for v in views]}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", choices=("run", "sizes", "frame"), default="run")
    ap.add_argument("--videos", default=os.environ.get(VIDEOS_ENV), help=f"clip folder (${VIDEOS_ENV})")
    ap.add_argument("--clips", nargs="+", help="only these clips (names in video_real.json)")
    ap.add_argument("--approaches", nargs="+", default=["naive", "today", "new"],
                    help="naive, today, new; a variant as new:detect_every=3,detect_width=320")
    ap.add_argument("--today", default=TODAY, help=f"git revision of 'today' (default: {TODAY})")
    ap.add_argument("--sides", type=int, nargs="+", default=[192, 320, 480, 640, 960],
                    help="sizes: fixed copy sides to compare with the rule (besides auto and full)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime/OpenCV threads (default: 1)")
    ap.add_argument("--at", type=int, default=120, help="frame: which frame of the (first --clips) clip")
    ap.add_argument("--png", default=str(REPO / "docs" / "video_frame.png"), help="frame: where to write it")
    ap.add_argument("--colors", type=int, default=160, help="frame: palette size of the PNG")
    ap.add_argument("--out", help=f"JSON results (default: {RESULTS.parent}/video_real[_sizes].json)")
    args = ap.parse_args(argv)
    os.environ["FACEREC_ORT_THREADS"] = str(args.threads)
    load0 = os.getloadavg()
    t0 = time.time()
    if args.what == "frame":
        annotated_frame(args)
        return 0
    result = run(args) if args.what == "run" else sizes(args)
    out = Path(args.out) if args.out else RESULTS.with_name("video_real.json" if args.what == "run"
                                                            else "video_real_sizes.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result.update(command="python -m benchmarks.video_real " + " ".join(argv if argv is not None else sys.argv[1:]),
                  cpu=cpu_model(), load_average_start=load0, load_average_end=os.getloadavg(),
                  affinity=sorted(os.sched_getaffinity(0)), threads=args.threads, seconds=round(time.time() - t0, 1))
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
