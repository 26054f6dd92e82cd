"""A photo library on LFW with every face detected: incremental reruns against a full
re-cluster, and faces of one photo put in one cluster, by the old rule and the new one.

    python -m benchmarks.cluster_library [--max-photos N] [--work DIR] [--split 0.5] [--seed 0]
        [--min-quality Q] [--threshold T|verification] [--out benchmarks/results/cluster_library.json]

Data: ``$FACEREC_DATA_DIR/lfw/<Name>/*.jpg``, whole people in name order until ``--max-photos``
(default: all 13,233). Every face of every photo is detected, aligned and embedded by
``facerec cluster``'s own workflow (:func:`pipelines.cluster.cluster_photos`, default model
and detector), cached in ``--work`` (reruns cost nothing). Truth: in each photo the face
nearest the image centre is the folder's person (the LFW convention); the other faces (people
in the background) are clustered with the rest but not scored. Scores: pairwise and BCubed
F1 (:mod:`facerec.metrics.cluster_metrics`) of those centre faces.

Rows, all at the model's open-set search threshold (``--threshold``: another one; the looser
1:1 verification threshold shows how often a rule without cannot-links joins two faces of
one photo):

* ``old rule``: :func:`facerec.clustering.cluster_embeddings` without constraints (the code
  before this change): how many pairs of faces of one photo it put in one cluster;
* ``full``: the new full run — faces of one photo cannot-linked, faces below ``--min-quality``
  join clusters but never start or bridge one;
* ``incremental``: a seeded ``--split`` share of the photos clustered first (the same rule), then
  the rest added by an incremental run: earlier clusters frozen, new faces join them by the
  mean-cosine rule or cluster among themselves; compared with ``full`` on all photos. Once
  with the library calls, and once end to end (``facerec cluster`` on the first share, then
  on all photos, in a fresh folder sharing the face cache); "singletons free": a variant
  that freezes only earlier clusters of 2+ faces.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from facerec.metrics.cluster_metrics import cluster_scores
from facerec.clustering import Constraints, cluster_embeddings, same_photo_pairs

from .machine import cpu_model

log = logging.getLogger(__name__)


def lfw_people_photos(lfw: Path, max_photos: int | None) -> list[Path]:
    photos: list[Path] = []
    for d in sorted(p for p in lfw.iterdir() if p.is_dir()):
        files = sorted(d.glob("*.jpg"))
        if max_photos is not None and len(photos) + len(files) > max_photos:
            break
        photos += files
    return photos


def violations(labels: np.ndarray, pairs: np.ndarray, photo: np.ndarray) -> tuple[int, int]:
    """(pairs of one photo's faces in one cluster, photos with such a pair)."""
    same = (labels[pairs[:, 0]] == labels[pairs[:, 1]]) & (labels[pairs[:, 0]] >= 0)
    return int(same.sum()), int(np.unique(photo[pairs[same, 0]]).size)


def thr_arg(value: str, recognizer: Any) -> float:
    return float(recognizer.threshold) if value == "verification" else float(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-photos", type=int, help="whole people in name order up to this many photos (default: all)")
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/facerec-bench/cluster_library"),
                    help="facerec cluster output folder (its cache/ keeps every photo's faces)")
    ap.add_argument("--split", type=float, default=0.5, help="share of photos in the first run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-quality", type=float, help="default: pipelines.cluster.MIN_QUALITY")
    ap.add_argument("--threshold", help="cosine threshold (default: the model's open-set search "
                                                    "threshold); 'verification' = the model's 1:1 threshold")
    ap.add_argument("--no-pipeline", action="store_true",
                    help="skip the end-to-end check (facerec cluster on the first share, then on all photos)")
    ap.add_argument("--out", default="benchmarks/results/cluster_library.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from facerec import FaceRecognizer
    from pipelines.cluster import MIN_QUALITY, cluster_photos

    lfw = Path(os.environ.get("FACEREC_DATA_DIR", "../shared/data")) / "lfw"
    photos = lfw_people_photos(lfw, args.max_photos)
    recognizer = FaceRecognizer.load()
    min_q = MIN_QUALITY if args.min_quality is None else args.min_quality
    t0 = time.perf_counter()
    report = cluster_photos(recognizer, photos, args.work, full=True, min_quality=min_q, progress=True,
                            threshold=None if args.threshold is None else thr_arg(args.threshold, recognizer))
    embed_s = time.perf_counter() - t0
    emb = np.load(Path(args.work) / "embeddings.npy")
    faces = report.faces
    thr = report.threshold
    shas = [f.sha256 for f in faces]
    _, photo = np.unique(np.array(shas), return_inverse=True)
    photo = photo.ravel().astype(np.int64)
    face_index = np.array([f.face for f in faces])
    pairs = same_photo_pairs(photo)
    # Two files with the same bytes (LFW has a few, under two names) are one photo twice: the
    # same face index is the same face, not two people.
    pairs = pairs[face_index[pairs[:, 0]] != face_index[pairs[:, 1]]]
    quality = np.array([f.quality for f in faces])
    core = quality >= min_q
    # Truth: per photo the face nearest the centre of the 250x250 LFW image.
    centre = np.array([np.hypot(*(f.detection.center - 125.0)) for f in faces])
    scored = np.zeros(len(faces), bool)
    for p in np.unique(photo):
        rows = np.flatnonzero(photo == p)
        scored[rows[np.argmin(centre[rows])]] = True
    truth = np.array([Path(f.photo).parent.name for f in faces])[scored]
    multi = np.bincount(photo)[photo] > 1

    def scores(labels: np.ndarray) -> dict[str, Any]:
        s = cluster_scores(truth, labels[scored])
        v, vp = violations(labels, pairs, photo)
        return {"pairwise_f1": round(s.pairwise_f1, 4), "pairwise_precision": round(s.pairwise_precision, 4),
                "pairwise_recall": round(s.pairwise_recall, 4), "bcubed_f1": round(s.bcubed_f1, 4),
                "clusters": int(len(np.unique(labels[labels >= 0]))), "unclustered": int(np.sum(labels < 0)),
                "same_photo_pairs_together": v, "photos_with_pair_together": vp}

    rows: dict[str, dict[str, Any]] = {}
    t = time.perf_counter()
    rows["old rule (no constraints)"] = {**scores(cluster_embeddings(emb, thr)),
                                         "seconds": round(time.perf_counter() - t, 2)}
    t = time.perf_counter()
    full_c = Constraints(cannot_link=pairs, core=core)
    full = cluster_embeddings(emb, thr, constraints=full_c)
    rows["full (cannot-link + quality)"] = {**scores(full), "seconds": round(time.perf_counter() - t, 2)}
    t = time.perf_counter()
    rows["full (cannot-link only)"] = {**scores(cluster_embeddings(emb, thr, constraints=Constraints(
        cannot_link=pairs))), "seconds": round(time.perf_counter() - t, 2)}

    # Incremental: a seeded share of the photos first, the rest added.
    rng = np.random.default_rng(args.seed)
    first_photo = rng.random(photo.max() + 1) < args.split
    first = first_photo[photo]
    idx = np.flatnonzero(first)
    where = np.full(len(faces), -1, np.int64)
    where[idx] = np.arange(idx.size)
    sub_pairs = pairs[first[pairs[:, 0]] & first[pairs[:, 1]]]
    old = cluster_embeddings(emb[idx], thr, constraints=Constraints(cannot_link=where[sub_pairs], core=core[idx]))
    groups = np.full(len(faces), -1, np.int64)
    groups[idx] = old
    t = time.perf_counter()
    inc = cluster_embeddings(emb, thr, constraints=Constraints(groups=groups, cannot_link=pairs, frozen=groups >= 0,
                                                               core=core))
    rows["incremental (first run + added photos)"] = {**scores(inc), "seconds": round(time.perf_counter() - t, 2)}
    sizes = np.bincount(old[old >= 0]) if (old >= 0).any() else np.zeros(0, int)
    g2 = groups.copy()
    g2[(g2 >= 0) & (sizes[np.maximum(g2, 0)] < 2)] = -1
    inc2 = cluster_embeddings(emb, thr, constraints=Constraints(groups=g2, cannot_link=pairs, frozen=g2 >= 0,
                                                                core=core))
    rows["incremental (singletons free)"] = scores(inc2)

    if not args.no_pipeline:
        # The same through the workflow itself: `facerec cluster FIRST --out W`, then
        # `facerec cluster ALL --out W` (an incremental rerun), faces from the shared cache.
        work2 = Path(args.work) / "incremental"
        if work2.exists():
            shutil.rmtree(work2)
        work2.mkdir(parents=True)
        (work2 / "cache").symlink_to((Path(args.work) / "cache").resolve())
        first_photos = sorted({faces[i].photo for i in idx})
        t = time.perf_counter()
        cluster_photos(recognizer, first_photos, work2, min_quality=min_q, threshold=thr)
        rerun = cluster_photos(recognizer, photos, work2, min_quality=min_q, threshold=thr)
        by_key = {(f.photo, f.face): f.cluster for f in rerun.faces}
        labels = np.array([by_key[(f.photo, f.face)] for f in faces])
        rows["incremental, facerec cluster twice"] = {**scores(labels), "seconds": round(time.perf_counter() - t, 2)}

    doc = {"benchmark": "cluster_library", "photos": len(photos), "people": int(len(set(truth.tolist()))),
           "faces": len(faces), "faces_in_multi_face_photos": int(multi.sum()),
           "photos_with_several_faces": int((np.bincount(photo) > 1).sum()), "same_photo_pairs": int(len(pairs)),
           "threshold": thr, "min_quality": min_q, "faces_below_min_quality": int((~core).sum()),
           "quality_percentiles": {str(q): round(float(np.percentile(quality, q)), 3) for q in (1, 5, 10, 25, 50)},
           "split": args.split, "seed": args.seed, "first_run_faces": int(idx.size),
           "f1_incremental_minus_full": round(rows["incremental (first run + added photos)"]["pairwise_f1"]
                                             - rows["full (cannot-link + quality)"]["pairwise_f1"], 4),
           "detect_embed_cluster_seconds": round(embed_s, 1), "cpu": cpu_model(), "rows": rows}
    print(f"{len(photos)} photos, {len(faces)} faces ({doc['photos_with_several_faces']} photos with several faces, "
          f"{len(pairs)} same-photo pairs), threshold {thr:.4f}, min quality {min_q} "
          f"({doc['faces_below_min_quality']} faces below)")
    print(f"{'run':42s} {'pairF1':>7s} {'P':>7s} {'R':>7s} {'B3F1':>7s} {'clusters':>8s} {'1-photo pairs':>13s}")
    for name, r in rows.items():
        print(f"{name:42s} {r['pairwise_f1']:7.4f} {r['pairwise_precision']:7.4f} {r['pairwise_recall']:7.4f} "
              f"{r['bcubed_f1']:7.4f} {r['clusters']:8d} {r['same_photo_pairs_together']:13d}")
    print(f"incremental - full pairwise F1: {doc['f1_incremental_minus_full']:+.4f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
