"""LFW verification with and without test-time frontalisation, on all pairs and on the pairs
whose two faces differ in yaw (estimated from the 5 landmarks) by more than ``--yaw-gap``.

    python -m benchmarks.frontalize_lfw [--weights model.pt] [--folds N] [--yaw-gap 20] [--json-out FILE]

``--folds 1`` (a small CPU budget): only the 600 pairs of the first fold, cut in two folds by
pair parity (each half keeps 150 same and 150 different pairs) for the k-fold protocol.

Both settings go through :func:`pipelines.evaluate.evaluate_pairs` (MTCNN, central face,
ArcFace alignment; ``FaceRecognizer(frontalize=True)`` re-renders each crop at yaw 0 on the
generic 3D face of :mod:`facerec.pose`), with the same detections (shared cache); a third
setting scores the normalised mean of each image's plain and frontal embeddings. Accuracy on
the large-yaw-gap pairs uses, for each pair, the threshold the k-fold protocol chose for its
fold on the other folds' pairs (all of them), so both subsets are scored like LFW itself.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from facerec import AlignmentError, FaceRecognizer
from facerec.metrics.pairs import read_lfw_pairs
from facerec.pose import face_pose
from facerec.similarity import l2_normalize
from facerec.metrics.verification import evaluate_scores, roc_auc
from facerec.io.cache import file_key
from pipelines.evaluate import embed_image_files, evaluate_pairs, score_pairs
from pipelines.evaluate.embedding import default_cache_dir, open_caches
from pipelines.paths import data_dir

log = logging.getLogger(__name__)


def image_yaws(rec: FaceRecognizer, paths: list[Path], cache_dir: Path) -> dict[Path, float]:
    """Yaw (degrees) of each image's central face from the cached detections; 0 for the
    centre-crop fallback (the template's own, frontal landmarks); NaN where no pose fits."""
    det_cache, _ = open_caches(rec, False, cache_dir)
    out = {}
    for p in paths:
        hit = det_cache.get(file_key(p))
        if hit is None or not bool(hit["detected"]):
            out[p] = 0.0
            continue
        try:
            out[p] = face_pose(hit["landmarks"], rec.embedder.preprocessing.template).yaw
        except AlignmentError:
            out[p] = float("nan")
    return out


def subset_stats(ev: Any, keep: np.ndarray) -> dict[str, Any]:
    """Accuracy of the pairs in ``keep`` at their folds' k-fold thresholds, and their ROC AUC."""
    thr = dict(zip(ev.report.kfold.folds, ev.report.kfold.thresholds))
    labels = np.array([p.same for p in ev.pairs])
    pair_thr = np.array([thr[p.fold] for p in ev.pairs])
    correct = (ev.scores >= pair_thr) == labels
    return {"pairs": int(keep.sum()), "same": int(labels[keep].sum()),
            "accuracy": float(correct[keep].mean()),
            "roc_auc": float(roc_auc(ev.scores[keep], labels[keep])) if 0 < labels[keep].sum() < keep.sum() else None,
            "mean_same_score": float(ev.scores[keep & labels].mean()) if (keep & labels).any() else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="model checkpoint (default: the shipped model)")
    ap.add_argument("--folds", type=int, default=10, help="use the first N folds of pairs.txt (default: 10)")
    ap.add_argument("--yaw-gap", type=float, default=20.0, help="degrees (default: 20)")
    ap.add_argument("--cache", help=f"detection/embedding cache (default: {default_cache_dir()})")
    ap.add_argument("--json-out", help="write the results as JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data = data_dir()
    pairs = [p for p in read_lfw_pairs(data / "lfw_pairs.txt", data / "lfw") if p.fold < args.folds]
    if args.folds == 1:
        pairs = [p._replace(fold=i % 2) for i, p in enumerate(pairs)]
    cache = Path(args.cache) if args.cache else default_cache_dir()
    rec = FaceRecognizer.load(args.weights)
    results: dict[str, Any] = {"folds": args.folds, "yaw_gap": args.yaw_gap, "weights": args.weights or "default",
                               "fingerprint": rec.model_id}
    evs = {}
    for name, front in (("plain", False), ("frontalized", True)):
        rec.frontalize = front
        t0 = time.process_time()
        evs[name] = evaluate_pairs(rec, pairs, cache_dir=cache, progress=False)
        results[f"cpu_s_{name}"] = round(time.process_time() - t0, 1)
    # Both views at once: the mean of each image's plain and frontal embeddings (cached above).
    paths = [x for p in pairs for x in (p.path_a, p.path_b)]
    both = []
    for front in (False, True):
        rec.frontalize = front
        both.append(embed_image_files(rec, paths, cache_dir=cache, progress=False))
    mixed = dataclasses.replace(both[0], embeddings=l2_normalize(both[0].embeddings + both[1].embeddings))
    scores = score_pairs(mixed, pairs)
    evs["plain+frontal"] = dataclasses.replace(
        evs["plain"], scores=scores, report=evaluate_scores(scores, [p.same for p in pairs], [p.fold for p in pairs]))
    results["cpu_s_plain+frontal"] = 0.0
    rec.frontalize = False
    ev0 = evs["plain"]
    yaws = image_yaws(rec, sorted({Path(x) for p in pairs for x in (p.path_a, p.path_b)}), cache)
    gap = np.array([abs(yaws[Path(p.path_a)] - yaws[Path(p.path_b)]) for p in ev0.pairs])
    big = np.nan_to_num(gap, nan=0.0) > args.yaw_gap
    results["images_without_pose"] = int(sum(np.isnan(v) for v in yaws.values()))
    results["abs_yaw_percentiles_50_90_99"] = [round(float(v), 1) for v in
                                               np.nanpercentile(np.abs(list(yaws.values())), [50, 90, 99])]
    print(f"LFW, first {args.folds} fold(s): {len(pairs)} pairs; {int(big.sum())} with yaw gap > {args.yaw_gap:g}°")
    print(f"{'setting':<14} {'k-fold acc':>16} {'AUC':>8} {'gap>' + format(args.yaw_gap, 'g') + ' acc':>12} "
          f"{'gap AUC':>8} {'CPU s':>7}")
    for name, ev in evs.items():
        k = ev.report.kfold
        sub = subset_stats(ev, big)
        results[name] = {"kfold_mean": k.mean, "kfold_std": k.std, "roc_auc": ev.report.auc,
                         "fallback_images": len(ev.fallback_images), "yaw_gap_subset": sub}
        auc = "n/a" if sub["roc_auc"] is None else f"{sub['roc_auc']:.4f}"
        print(f"{name:<14} {100 * k.mean:8.2f} ± {100 * k.std:4.2f} % {ev.report.auc:8.4f} "
              f"{100 * sub['accuracy']:10.2f} % {auc:>8} {results[f'cpu_s_{name}']:7.0f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
