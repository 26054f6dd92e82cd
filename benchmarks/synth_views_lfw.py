"""One-photo enrollment on LFW with and without synthesised views: closed-set rank-1.

    python -m benchmarks.synth_views_lfw [--weights model.pt] [--people N] [--probes-per-person K] [--views V]
                                         [--cached-only]

The ``lfw-ident`` split (:func:`pipelines.evaluate.lfw_identification_split`: people with
≥ 2 images, the first enrolled, the others probes), restricted to the first ``--people``
people and ``--probes-per-person`` probes each to fit a small CPU budget. Each person is
enrolled from the one photo, either as its crop alone, or with ``--views`` extra templates
rendered from the photo at :func:`facerec.pose.synthesis_yaws` on the generic 3D face
(what ``facerec enroll --synth-views V`` stores); an identity's score is the max over its
templates (the gallery's default aggregation) or the cosine to their normalised mean.
Probes are embedded as usual (detections and embeddings shared with ``facerec evaluate``'s cache).
``--cached-only`` (a small CPU budget): only people whose photos all have cached embeddings
(e.g. those of the LFW pairs a ``facerec evaluate lfw`` run reached), so nothing is detected.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from facerec import FaceRecognizer, load_image
from facerec.pose import face_views, synthesis_yaws
from facerec.similarity import l2_normalize
from facerec.io.cache import file_key
from pipelines.evaluate import embed_image_files, lfw_identification_split
from pipelines.evaluate.embedding import central_landmarks, default_cache_dir, open_caches
from pipelines.paths import data_dir

log = logging.getLogger(__name__)


def rank1(scores: np.ndarray, truth: np.ndarray) -> float:
    """Share of probes (rows of ``scores`` (Q, P)) whose best identity is ``truth``."""
    return float((scores.argmax(1) == truth).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="model checkpoint (default: the shipped model)")
    ap.add_argument("--people", type=int, default=300, help="first N enrolled people (default: 300)")
    ap.add_argument("--probes-per-person", type=int, default=3, help="default: 3")
    ap.add_argument("--views", type=int, default=4, help="synthesised views per photo (default: 4)")
    ap.add_argument("--max-yaw", type=float, default=30.0, help="largest |yaw| of the views (default: 30)")
    ap.add_argument("--cache", help=f"detection/embedding cache (default: {default_cache_dir()})")
    ap.add_argument("--cached-only", action="store_true", help="only people whose photos are all in the cache")
    ap.add_argument("--json-out", help="write the results as JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    split = lfw_identification_split(data_dir() / "lfw")
    cache = Path(args.cache) if args.cache else default_cache_dir()
    rec = FaceRecognizer.load(args.weights)
    _, emb_cache = open_caches(rec, False, cache)
    candidates: dict[int, list[Path]] = {}
    for p, pid in zip(split.probes, split.probe_ids):
        if len(candidates.setdefault(int(pid), [])) < args.probes_per_person:
            candidates[int(pid)].append(p)
    people = [pid for pid in range(len(split.people))
              if not args.cached_only or all(file_key(x) in emb_cache for x in [split.gallery[pid], *candidates[pid]])]
    people = people[:args.people]
    n = len(people)
    gallery = [split.gallery[pid] for pid in people]
    probes = [x for pid in people for x in candidates[pid]]
    truth = np.array([i for i, pid in enumerate(people) for _ in candidates[pid]])
    t0 = time.process_time()
    q = embed_image_files(rec, probes, cache_dir=cache, progress=False).embeddings  # (Q, D)
    g = embed_image_files(rec, gallery, cache_dir=cache, progress=False).embeddings  # (P, D)
    cpu_plain = time.process_time() - t0
    t0 = time.process_time()
    det_cache, _ = open_caches(rec, False, cache)
    yaws = synthesis_yaws(args.views, args.max_yaw)
    tpl = rec.embedder.preprocessing.template
    views = np.zeros((n, len(yaws), g.shape[1]), np.float32)  # (P, V, D)
    for i, path in enumerate(gallery):
        rgb = load_image(path)
        lm, _ = central_landmarks(rec, open_photo(rgb), file_key(path), det_cache)
        views[i] = rec.embedder.embed(np.stack(face_views(rgb, lm, yaws, tpl)))
    cpu_views = time.process_time() - t0
    plain = q @ g.T  # (Q, P)
    with_max = np.maximum(plain, np.einsum("qd,pvd->qpv", q, views).max(2))
    mean_tpl = l2_normalize(g + views.sum(1))  # mean of the unit templates, renormalised
    with_mean = q @ mean_tpl.T
    views_only = np.einsum("qd,pvd->qpv", q, views).max(2)
    res: dict[str, Any] = {
        "people": n, "probes": len(probes), "views": args.views, "yaws": yaws, "weights": args.weights or "default",
        "fingerprint": rec.model_id, "rank1": {"photo": rank1(plain, truth), "photo+views max": rank1(with_max, truth),
                                               "photo+views mean": rank1(with_mean, truth),
                                               "views only max": rank1(views_only, truth)},
        "cpu_s": {"embed probes+gallery": round(cpu_plain, 1), "render+embed views": round(cpu_views, 1)}}
    print(f"LFW one-photo enrollment: {n} people, {len(probes)} probes; views at yaw {yaws}")
    for k, v in res["rank1"].items():
        print(f"  rank-1 {k:<18} {100 * v:6.2f} %")
    print(f"  CPU s: {res['cpu_s']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
