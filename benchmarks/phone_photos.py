"""Detection on what users bring: real group photos at their own size and as 12 MP and 48 MP
phone-size JPEGs — faces found, cost of a cold ``facerec detect``, alignment from reduced decodes.

    python -m benchmarks.phone_photos faces [--configs mtcnn:auto yunet:auto yunet:1280 yunet:2560 ...]
    python -m benchmarks.phone_photos small
    python -m benchmarks.phone_photos cost  [--photo NAME] [--baseline]
    python -m benchmarks.phone_photos align
    python -m benchmarks.phone_photos throughput [--n 40]

The photos: ``benchmarks/phone_photos.json`` lists 12 openly licensed real photos of several
people (sources pinned to a commit, sha256, licence and its evidence); put them in a folder and
point ``$FACEREC_PHOTOS_DIR`` (or ``--photos``) at it (steps: the JSON's ``fetch`` entry). The
12 MP (4000×3000-equivalent area) and 48 MP copies are made once with PIL (Lanczos, JPEG quality
92) under ``--work`` (default ``<cache root>/phone_photos``), never in the repository.

``faces``: the reference is MTCNN at full resolution on each photo as published (20-px minimum
face). Each configuration ``DETECTOR:SIDE`` (SIDE: a fixed bound, 0 = full resolution, ``auto`` =
the detector's rule) runs on the photo at
each size; its boxes, mapped to the published photo's pixels, are matched to the reference's
(IoU ≥ 0.4). Reported: reference faces found (all, and those ≥ 40 px on their short side at
that size), detections with no reference face, and time per photo (warm, in this process).
``small``: recall against a face's size in the copy the detector sees (the published photos
at bounds 320–1280 px), i.e. the smallest face a bound finds in a photo of any size.
``cost``: a cold ``facerec detect PHOTO --json`` in a fresh process per size and detector (and
a cold ``facerec verify PHOTO LFW_PHOTO``), wall time and peak RSS of the child (``--baseline``: MTCNN at full resolution too, 12 MP only;
48 MP takes ~80 s and 6 GB).
``align``: for every face of the 12 MP and 48 MP copies, the SFace embedding of the crop
aligned from the level the bounded rule picks vs. from the full decode (cosine).
``throughput``: ``facerec cluster`` on ``--n`` 12 MP photos (cycled) — photos and faces per
second — with the default detector on all photos and on those of 1–3 faces (a typical phone
photo), and with MTCNN at full resolution (``--n-baseline`` photos) for the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facerec.io.cache import cache_dir, models_dir
from facerec.tracking import iou_matrix

from .machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
MANIFEST = Path(__file__).with_name("phone_photos.json")
PHOTOS_ENV = "FACEREC_PHOTOS_DIR"
SIZES = {"native": None, "12mp": 12_000_000, "48mp": 48_000_000}
MIN_FACE = 40  # the rule: no face of >= 40 px in the original lost


def photo_files(folder: Path) -> list[Path]:
    """The manifest's photos in ``folder`` (each checked present)."""
    names = [p["file"] for p in json.loads(MANIFEST.read_text())["photos"]]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise SystemExit(f"{folder}: missing {', '.join(missing)} (see {MANIFEST.name}'s fetch steps)")
    return [folder / n for n in names]


def sized(path: Path, size: str, work: Path) -> Path:
    """``path`` itself (native) or its phone-size JPEG copy (made once)."""
    target = SIZES[size]
    if target is None:
        return path
    out = work / size / path.name
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            f = (target / (im.width * im.height)) ** 0.5
            im.convert("RGB").resize((round(im.width * f), round(im.height * f)), Image.LANCZOS).save(
                out, "JPEG", quality=92)
    return out


iou = iou_matrix  # (N, 4) × (M, 4) boxes → (N, M) IoU: the tracker's one definition


def match(ref: np.ndarray, found: np.ndarray, thr: float = 0.4) -> tuple[np.ndarray, int]:
    """Which reference boxes are found (greedy one-to-one by IoU ≥ ``thr``) and how many found
    boxes match none."""
    hit = np.zeros(len(ref), bool)
    if len(ref) == 0 or len(found) == 0:
        return hit, len(found)
    m = iou(ref, found)
    used = np.zeros(len(found), bool)
    for r, f in sorted(((r, f) for r in range(len(ref)) for f in range(len(found)) if m[r, f] >= thr),
                       key=lambda rf: -m[rf]):
        if not hit[r] and not used[f]:
            hit[r] = used[f] = True
    return hit, int((~used).sum())


def boxes_of(dets: list, scale: float) -> np.ndarray:
    return np.array([d.box for d in dets], np.float32).reshape(-1, 4) / scale


def run_faces(args: argparse.Namespace, files: list[Path]) -> dict[str, Any]:
    from facerec.detection.bounded import create_detector
    from facerec.io.photo import open_photo

    ref_det = create_detector("mtcnn", detect_side=0)
    refs = {p.name: boxes_of(ref_det.detect(p), 1.0) for p in files}
    rows = []
    for cfg in args.configs:
        name, side = cfg.split(":")
        det = create_detector(name, detect_side=None if side == "auto" else int(side))
        for size in args.sizes:
            tot = big = hit_all = hit_big = extra = 0
            times = []
            for p in files:
                src = sized(p, size, args.work)
                photo = open_photo(src)
                t = time.perf_counter()
                dets = det.detect(photo)
                times.append(time.perf_counter() - t)
                s = photo.width / Image.open(p).width  # this size's pixels per published pixel
                ref = refs[p.name]
                hit, fp = match(ref, boxes_of(dets, s))
                short = np.minimum(ref[:, 2] - ref[:, 0], ref[:, 3] - ref[:, 1]) * s
                tot += len(ref)
                big += int((short >= MIN_FACE).sum())
                hit_all += int(hit.sum())
                hit_big += int(hit[short >= MIN_FACE].sum())
                extra += fp
            rows.append({"config": cfg, "size": size, "reference_faces": tot, "found": hit_all,
                         f"faces_ge_{MIN_FACE}px": big, f"found_ge_{MIN_FACE}px": hit_big, "unmatched": extra,
                         "ms_per_photo_median": round(1000 * statistics.median(times), 1),
                         "ms_per_photo_max": round(1000 * max(times), 1)})
            r = rows[-1]
            print(f"{cfg:<12} {size:<6} found {hit_all:>3}/{tot:<3} (>= {MIN_FACE} px: {hit_big}/{big})  "
                  f"unmatched {extra:>2}  {r['ms_per_photo_median']:>7.1f} ms median, {r['ms_per_photo_max']:.0f} max",
                  flush=True)
    return {"reference": "mtcnn full resolution on the published photos", "rows": rows}


def run_small(args: argparse.Namespace, files: list[Path]) -> dict[str, Any]:
    """Recall against the face's size in the copy the detector sees: each published photo at
    several bounds, every reference face (MTCNN at full resolution) binned by its short side
    times the copy's scale. Gives the smallest face a bound finds in any photo size."""
    from facerec.detection.bounded import create_detector

    ref_det = create_detector("mtcnn", detect_side=0)
    bins = [0, 8, 10, 12, 14, 16, 20, 24, 32, 10_000]
    out = {}
    for name in args.small_detectors:
        seen = np.zeros(len(bins) - 1, int)
        hit = np.zeros(len(bins) - 1, int)
        for p in files:
            ref = boxes_of(ref_det.detect(p), 1.0)
            long_side = max(Image.open(p).size)
            short = np.minimum(ref[:, 2] - ref[:, 0], ref[:, 3] - ref[:, 1])
            for side in (320, 480, 640, 960, 1280):
                if side >= long_side:
                    continue
                found, _ = match(ref, boxes_of(create_detector(name, detect_side=side).detect(p), 1.0))
                k = np.digitize(short * side / long_side, bins) - 1
                np.add.at(seen, k, 1)
                np.add.at(hit, k, found.astype(int))
        rows = [{"face_px_in_copy": f"{bins[i]}-{bins[i + 1] if bins[i + 1] < 10_000 else ''}", "faces": int(seen[i]),
                 "found": int(hit[i]), "recall": round(hit[i] / seen[i], 3) if seen[i] else None}
                for i in range(len(bins) - 1)]
        out[name] = rows
        print(name + ": " + "  ".join(f"{r['face_px_in_copy']} px {r['found']}/{r['faces']}" for r in rows), flush=True)
    return {"reference": "mtcnn full resolution on the published photos", "rows": out}


def peak_rss_mb(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` under ``/usr/bin/time -v``: (wall s, peak RSS MB, stdout)."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=REPO, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    kb = next(int(line.split(":")[1]) for line in p.stderr.splitlines() if "Maximum resident set size" in line)
    return wall, kb / 1024, p.stdout


def run_cost(args: argparse.Namespace, files: list[Path]) -> dict[str, Any]:
    photo = next(p for p in files if p.name == args.photo)
    rows = []
    other = Path(os.environ.get("FACEREC_DATA_DIR", REPO.parent / "shared" / "data")) / "lfw" / "Colin_Powell" / \
        "Colin_Powell_0001.jpg"  # verify's second photo: one LFW face
    configs: list[tuple[str, list[str]]] = [("yunet (default rule)", ["detect", "--detector", "yunet"]),
                                            ("mtcnn (default rule)", ["detect", "--detector", "mtcnn"]),
                                            ("verify vs an LFW photo (default)", ["verify", str(other)])]
    for size in ("native", "12mp", "48mp"):
        src = sized(photo, size, args.work)
        w, h = Image.open(src).size
        todo = list(configs)
        if args.baseline and size != "48mp":
            todo.append(("mtcnn full resolution (before)", ["detect", "--detector", "mtcnn", "--detect-size", "0"]))
        for label, extra in todo:
            walls, peaks, faces = [], [], 0
            for _ in range(args.reps):
                cmd, *rest = extra
                wall, peak, out = peak_rss_mb([sys.executable, "-m", "pipelines.cli", cmd, str(src), *rest, "--json"])
                walls.append(wall)
                peaks.append(peak)
                faces = len(json.loads(out).get("faces", [])) if cmd == "detect" else 1
            rows.append({"size": size, "pixels": f"{w}x{h}", "config": label, "wall_s_median": round(statistics.median(walls), 2),
                         "wall_s_max": round(max(walls), 2), "peak_rss_mb_max": round(max(peaks)), "faces": faces})
            r = rows[-1]
            print(f"{size:<6} {r['pixels']:<10} {label:<32} {r['wall_s_median']:>6.2f} s (max {r['wall_s_max']:.2f})  "
                  f"peak {r['peak_rss_mb_max']:>5} MB  {faces} faces", flush=True)
    return {"photo": photo.name, "reps": args.reps, "rows": rows}


def run_align(args: argparse.Namespace, files: list[Path]) -> dict[str, Any]:
    from facerec import FaceRecognizer
    from facerec.alignment import align_face
    from facerec.io.photo import open_photo

    rec = FaceRecognizer.load()
    tpl = rec.embedder.preprocessing.template
    out = {}
    for size in ("12mp", "48mp"):
        cos, levels = [], []
        for p in files:
            photo = open_photo(sized(p, size, args.work))
            dets = rec.detector.detect(photo)
            if not dets:
                continue
            reduced = np.stack([rec.crop(photo, d.landmarks) for d in dets])
            levels += [_level(rec, photo, d) for d in dets]
            full = photo.full()
            whole = np.stack([align_face(full, d.landmarks, tpl) for d in dets])
            a, b = rec.embedder.embed(reduced), rec.embedder.embed(whole)
            cos += list(np.sum(a * b, axis=1))
        c = np.array(cos)
        out[size] = {"faces": len(c), "cos_min": round(float(c.min()), 4), "cos_median": round(float(np.median(c)), 4),
                     "cos_p5": round(float(np.percentile(c, 5)), 4),
                     "levels": {str(k): levels.count(k) for k in sorted(set(levels))}}
        print(f"{size}: {len(c)} faces, cosine(reduced-level crop, full-decode crop) min {c.min():.4f}, "
              f"5th pct {np.percentile(c, 5):.4f}, median {np.median(c):.4f}; levels used {out[size]['levels']}")
    return out


def _level(rec: Any, photo: Any, det: Any) -> float:
    """The DCT level the bounded rule aligns ``det`` from."""
    from facerec.alignment import estimate_similarity, get_template

    tpl = get_template(rec.embedder.preprocessing.template)
    m = estimate_similarity(np.asarray(det.landmarks, np.float32), tpl.points)
    return photo.at_scale(float(np.sqrt(abs(np.linalg.det(m[:, :2])))))[1]


def run_throughput(args: argparse.Namespace, files: list[Path]) -> dict[str, Any]:
    import shutil
    import tempfile

    from facerec.detection.bounded import create_detector

    src = [sized(p, "12mp", args.work) for p in files]
    det = create_detector()
    faces = {p: len(det.detect(p)) for p in src}
    few = [p for p in src if faces[p] <= 3]  # a typical phone photo holds one to three faces
    rows = []
    for label, extra, n, photos in (
            ("default (yunet), all photos", [], args.n, src),
            ("default (yunet), photos of 1-3 faces", [], args.n, few),
            ("mtcnn full resolution (before), all photos", ["--detector", "mtcnn", "--detect-size", "0"],
             args.n_baseline, src)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "photos"
            folder.mkdir()
            for i in range(n):
                s = photos[i % len(photos)]
                # distinct bytes per copy: the cluster cache is keyed by content
                data = s.read_bytes() + i.to_bytes(4, "little")
                (folder / f"{i:04d}_{s.name}").write_bytes(data)
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "pipelines.cli", "cluster", str(folder), "--out",
                                   str(Path(tmp) / "out"), "--json", *extra], cwd=REPO, capture_output=True, text=True,
                                  env={**os.environ, "FACEREC_CACHE_DIR": str(Path(tmp) / "cache"),
                                       "FACEREC_MODELS_DIR": str(models_dir())})
            if done.returncode != 0:
                raise SystemExit(f"facerec cluster failed: {done.stderr.strip()[-500:]}")
            wall = time.perf_counter() - t
            shutil.rmtree(folder)
        nf = sum(faces[photos[i % len(photos)]] for i in range(n))
        rows.append({"config": label, "photos": n, "faces": nf, "wall_s": round(wall, 1),
                     "photos_per_s": round(n / wall, 2), "faces_per_s": round(nf / wall, 1)})
        print(f"{label:<44} {n} photos ({nf} faces) in {wall:.1f} s: {n / wall:.2f} photos/s, "
              f"{nf / wall:.1f} faces/s", flush=True)
    return {"size": "12mp", "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=("faces", "small", "cost", "align", "throughput"))
    ap.add_argument("--photos", type=Path, default=os.environ.get(PHOTOS_ENV), help=f"photo folder (${PHOTOS_ENV})")
    ap.add_argument("--work", type=Path, default=cache_dir("phone_photos"), help="where the phone-size copies go")
    ap.add_argument("--configs", nargs="+", default=["mtcnn:auto", "yunet:auto", "yunet:1280", "yunet:2560"])
    ap.add_argument("--small-detectors", nargs="+", default=["yunet", "mtcnn"])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--photo", default="faceaisharp_group_10mpx.jpg", help="the photo 'cost' measures")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--baseline", action="store_true", help="cost: MTCNN at full resolution too (12 MP and native)")
    ap.add_argument("--n", type=int, default=40, help="throughput: photos clustered with the default detector")
    ap.add_argument("--n-baseline", type=int, default=4, help="throughput: photos clustered with full-resolution MTCNN")
    ap.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/phone_photos_<part>.json)")
    args = ap.parse_args(argv)
    if not args.photos:
        raise SystemExit(f"no photo folder: set ${PHOTOS_ENV} or --photos (see {MANIFEST.name})")
    files = photo_files(Path(args.photos))
    run = {"faces": run_faces, "small": run_small, "cost": run_cost, "align": run_align, "throughput": run_throughput}[args.part]
    doc = {"part": args.part, "cpu": cpu_model(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
           "command": "python -m benchmarks.phone_photos " + " ".join(sys.argv[1:] if argv is None else argv),
           **run(args, files)}
    out = args.out or REPO / "benchmarks" / "results" / f"phone_photos_{args.part}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"written {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
