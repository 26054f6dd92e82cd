"""``facerec evaluate {lfw,csv,bin,lfw-ident}``: verification and identification benchmarks.

* ``lfw``: the standard LFW protocol on the official ``pairs.txt`` (10 folds; threshold chosen
  on the other 9; mean ± std), plus ROC AUC, EER, TAR@FAR and the best global threshold.
* ``csv``: the same on any CSV pair list (:func:`facerec.pairs.read_csv_pairs`).
* ``bin``: insightface ``.bin`` sets (already aligned 112×112 crops, no detection).
* ``lfw-ident``: closed-set rank-1/5 and open-set DIR@FAR on LFW (1,680 people with ≥ 2
  images enrolled with their first image; the other images probe; the 4,069 single-image
  people are unknown probes).

Images are detected with MTCNN and the face nearest the image centre is aligned (the LFW
convention, as ``FaceRecognizer.face(select="central", fallback_center=True)``); an image
without a detection falls back to the fixed centre crop of
:func:`facerec.alignment.center_crop_landmarks` and is counted and listed in the report.
Detections and embeddings are cached (:mod:`pipelines.embedding_cache`).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec import Embedder, FaceRecognizer, load_image
from facerec.alignment import ARCFACE_112, center_crop_landmarks, get_template
from facerec.binset import BinSet, load_bin
from facerec.detection import pick_central
from facerec.pairs import Pair, read_csv_pairs, read_lfw_pairs
from facerec.recognizer import default_weights
from facerec.similarity import cosine_similarity
from facerec.verification import (DEFAULT_FARS, OpenSetPoint, RocCurve, VerificationReport, dir_at_far,
                                  evaluate_scores, rank_k_accuracy)

from .common import add_model_args, emit_json, load_recognizer
from .embedding_cache import ArrayCache, default_cache_dir, file_key, spec_hash

log = logging.getLogger(__name__)

#: Seconds between cache checkpoints during a long embedding run.
CACHE_SAVE_EVERY_S = 60.0
IDENT_FARS: tuple[float, ...] = (1e-2, 1e-3)
IDENT_RANKS: tuple[int, ...] = (1, 5)


# -- embedding image files (detect → central face → align → batched embed, cached) -------------

@dataclass(frozen=True)
class EmbeddedImages:
    """Embeddings of image files: ``embeddings`` (N, D) float32 unit rows in ``paths`` order;
    ``detected`` (N,) False where the centre-crop fallback was used."""

    paths: list[Path]
    embeddings: np.ndarray
    detected: np.ndarray

    def index(self) -> dict[Path, int]:
        return {p: i for i, p in enumerate(self.paths)}

    @property
    def fallback_paths(self) -> list[Path]:
        return [p for p, d in zip(self.paths, self.detected) if not d]


def _model_spec(embedder: Embedder, flip: bool, source: Any) -> dict[str, Any]:
    return {"fingerprint": embedder.fingerprint(), "preprocessing": embedder.preprocessing.to_dict(),
            "flip": bool(flip), "precision": embedder.precision, "source": source}


def _open_caches(recognizer: FaceRecognizer, flip: bool, cache_dir: Path | None) -> tuple[ArrayCache, ArrayCache]:
    """(detections, embeddings) caches; in memory only without ``cache_dir`` or with a detector
    whose settings cannot be named."""
    cfg = getattr(recognizer.detector, "config", None)
    use_disk = cache_dir is not None and dataclasses.is_dataclass(cfg)
    det_spec = {"detector": type(recognizer.detector).__name__,
                "config": dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else None, "select": "central"}
    emb = recognizer.embedder
    det_path = cache_dir / f"detect-{spec_hash(det_spec)}.npz" if use_disk else None
    source = {**det_spec, "frontalize": True} if getattr(recognizer, "frontalize", False) else det_spec
    emb_path = (cache_dir / f"embed-{emb.fingerprint()}-{spec_hash(_model_spec(emb, flip, source))}.npz"
                if use_disk else None)
    det_cache = ArrayCache(det_path, {"landmarks": ((5, 2), "float32"), "score": ((), "float32"),
                                      "detected": ((), "bool")})
    emb_cache = ArrayCache(emb_path, {"embedding": ((emb.embedding_size,), "float32"), "detected": ((), "bool")})
    return det_cache, emb_cache


def _central_landmarks(recognizer: FaceRecognizer, rgb: np.ndarray, key: str, cache: ArrayCache) -> tuple[np.ndarray, bool]:
    """(5, 2) landmarks of the face nearest the centre, or the centre-crop fallback."""
    hit = cache.get(key)
    if hit is None:
        h, w = rgb.shape[:2]
        det = pick_central(recognizer.detector.detect(rgb), w, h)
        lm = det.landmarks if det is not None else np.zeros((5, 2), np.float32)
        cache.put(key, landmarks=lm, score=det.score if det is not None else 0.0, detected=det is not None)
        hit = cache.get(key)
    if bool(hit["detected"]):
        return hit["landmarks"], True
    h, w = rgb.shape[:2]
    return center_crop_landmarks(w, h, recognizer.embedder.preprocessing.template), False


def embed_image_files(recognizer: FaceRecognizer, paths: Sequence[str | os.PathLike], *, flip: bool = False,
                      batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
                      progress: bool = True) -> EmbeddedImages:
    """Embed the central face of each image file (duplicates embedded once), batched and cached.

    Same result as ``recognizer.face(path, select="central", fallback_center=True, flip=flip)``,
    but the embedder runs on batches and detections/embeddings come from the cache when known.
    """
    from tqdm import tqdm

    uniq = list(dict.fromkeys(Path(p) for p in paths))
    det_cache, emb_cache = _open_caches(recognizer, flip, Path(cache_dir) if cache_dir is not None else None)
    keys = [file_key(p) for p in uniq]
    todo = [i for i, k in enumerate(keys) if k not in emb_cache]
    if todo:
        log.info("embedding %d images (%d cached)", len(todo), len(uniq) - len(todo))
    last_save = time.monotonic()
    with tqdm(total=len(todo), desc="detect+embed", unit="img", disable=not progress or None) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            crops, found = [], []
            for i in chunk:
                rgb = load_image(uniq[i])
                lm, ok = _central_landmarks(recognizer, rgb, keys[i], det_cache)
                crops.append(recognizer.crop(rgb, lm))
                found.append(ok)
                bar.update(1)
            embs = recognizer.embedder.embed(np.stack(crops), batch_size=batch_size, flip=flip)
            for i, e, ok in zip(chunk, embs, found):
                emb_cache.put(keys[i], embedding=e, detected=ok)
            if time.monotonic() - last_save > CACHE_SAVE_EVERY_S:
                det_cache.save()
                emb_cache.save()
                last_save = time.monotonic()
    det_cache.save()
    emb_cache.save()
    rows = [emb_cache.get(k) for k in keys]
    return EmbeddedImages(uniq, np.stack([r["embedding"] for r in rows]).astype(np.float32),
                          np.array([bool(r["detected"]) for r in rows]))


def score_pairs(images: EmbeddedImages, pairs: Sequence[Pair]) -> np.ndarray:
    """(P,) cosine similarity of each pair's two embeddings."""
    idx = images.index()
    a = images.embeddings[[idx[Path(p.path_a)] for p in pairs]]
    b = images.embeddings[[idx[Path(p.path_b)] for p in pairs]]
    return cosine_similarity(a, b).astype(np.float64)


# -- verification -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PairEvaluation:
    """Scores of a pair list and the protocol's report on them."""

    pairs: list[Pair]
    scores: np.ndarray
    report: VerificationReport
    n_images: int
    fallback_images: list[Path]
    seconds: float


def evaluate_pairs(recognizer: FaceRecognizer, pairs: Sequence[Pair], *, flip: bool = False, batch_size: int = 64,
                   cache_dir: str | os.PathLike | None = None, fars: Sequence[float] = DEFAULT_FARS,
                   progress: bool = True) -> PairEvaluation:
    """Embed every image of ``pairs``, score the pairs, run the k-fold protocol (folds from the pairs)."""
    t0 = time.perf_counter()
    pairs = list(pairs)
    images = embed_image_files(recognizer, [p for pr in pairs for p in (pr.path_a, pr.path_b)], flip=flip,
                               batch_size=batch_size, cache_dir=cache_dir, progress=progress)
    scores = score_pairs(images, pairs)
    report = evaluate_scores(scores, [p.same for p in pairs], [p.fold for p in pairs], fars)
    return PairEvaluation(pairs, scores, report, len(images.paths), images.fallback_paths, time.perf_counter() - t0)


def _rel(p: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(Path(p).relative_to(root))
        except ValueError:
            pass
    return str(p)


def write_scores(path: str | os.PathLike, pairs: Sequence[Pair], scores: np.ndarray, root: Path | None = None) -> None:
    """One tab-separated line per pair: ``fold label score image_a image_b`` (label 1 = same)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("fold\tlabel\tscore\timage_a\timage_b\n")
        for p, s in zip(pairs, scores):
            f.write(f"{p.fold}\t{int(p.same)}\t{float(s):.9g}\t{_rel(p.path_a, root)}\t{_rel(p.path_b, root)}\n")
    os.replace(tmp, path)


def plot_roc(curves: dict[str, RocCurve], path: str | os.PathLike, title: str = "ROC") -> None:
    """TAR against FAR (log axis) for each labelled curve, written as an image (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    floor = 1.0
    for label, roc in curves.items():
        keep = roc.fpr > 0  # FAR = 0 has no place on a log axis
        ax.plot(roc.fpr[keep], roc.tpr[keep], label=label, lw=1.5)
        floor = min(floor, 1.0 / max(roc.n_neg, 1))
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(max(0.0, min(float(r.tpr[r.fpr >= floor].min()) for r in curves.values()) - 0.02) if curves else 0, 1.0)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def model_info(embedder: Embedder, weights: str | None, flip: bool, frontalize: bool = False) -> dict[str, Any]:
    return {"weights": weights, "backbone": embedder.backbone_name, "fingerprint": embedder.fingerprint(),
            "preprocessing": embedder.preprocessing.to_dict(), "precision": embedder.precision, "flip": bool(flip),
            **({"frontalize": True} if frontalize else {})}


def verification_dict(ev: PairEvaluation, protocol: str, model: dict[str, Any], root: Path | None) -> dict[str, Any]:
    """JSON report of a pair evaluation."""
    return {"protocol": protocol, "model": model, **ev.report.to_dict(),
            "images": {"total": ev.n_images, "fallback_center": len(ev.fallback_images),
                       "fallback_files": [_rel(p, root) for p in ev.fallback_images]},
            "seconds": round(ev.seconds, 2)}


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def format_verification(d: dict[str, Any]) -> str:
    """Human-readable view of :func:`verification_dict`."""
    acc, m = d["accuracy"], d["model"]
    lines = [f"{d['protocol']}: {d['pairs']} pairs ({d['positives']} same, {d['negatives']} different), "
             f"{len(acc['folds'])} folds",
             f"model: {m['backbone']} {m['fingerprint']} ({m['weights'] or 'default'}), {m['precision']}, "
             f"flip TTA {'on' if m['flip'] else 'off'}"]
    if "images" in d:
        im = d["images"]
        fb = f"{im['fallback_center']} without a detected face (centre crop used)"
        if im["fallback_files"]:
            fb += ": " + ", ".join(im["fallback_files"][:5]) + (", ..." if len(im["fallback_files"]) > 5 else "")
        lines.append(f"images: {im['total']}, {fb}")
    lines += [f"accuracy: {_pct(acc['mean'])} ± {_pct(acc['std'])} (threshold chosen on the other folds)",
              "  per fold: " + " ".join(f"{100 * a:.2f}" for a in acc["accuracies"]),
              f"ROC AUC: {d['roc_auc']:.5f}   EER: {_pct(d['eer'])}"]
    for p in d["tar_at_far"]:
        thr = "none" if p["threshold"] is None else f"{p['threshold']:.4f}"
        lines.append(f"TAR @ FAR {p['target_far']:g}: {_pct(p['tar'])} (FAR {p['far']:.4f}, threshold {thr})")
    b = d["best_threshold"]
    lines.append(f"best global threshold: {b['threshold']:.4f} (accuracy {_pct(b['accuracy'])} on all pairs)")
    lines.append(f"time: {d['seconds']:.1f} s")
    return "\n".join(lines)


# -- .bin sets --------------------------------------------------------------------------------

def _fit_bin_crop(rgb: np.ndarray, template: str) -> np.ndarray:
    """An ArcFace-aligned 112×112 .bin image as a crop for ``template``: as is, or cut when
    the template is ArcFace's translated by whole pixels (SphereFace 112×96 = x − 8)."""
    tpl = get_template(template)
    w, h = tpl.size
    if rgb.shape[:2] == (h, w):
        return rgb
    shift = ARCFACE_112.points - tpl.points  # (5, 2) constant for a pure translation
    dx, dy = (int(round(v)) for v in shift[0])
    if rgb.shape[:2] == (112, 112) and np.allclose(shift, shift[0], atol=1e-3) and np.allclose(shift[0], (dx, dy), atol=1e-3) \
            and 0 <= dx <= 112 - w and 0 <= dy <= 112 - h:
        return np.ascontiguousarray(rgb[dy:dy + h, dx:dx + w])
    raise ValueError(f".bin image of size {rgb.shape[1]}x{rgb.shape[0]} does not fit the model's {template} crop")


def embed_bin(embedder: Embedder, binset: BinSet, *, flip: bool = False, batch_size: int = 64,
              cache: ArrayCache | None = None, key_prefix: str = "", progress: bool = True) -> np.ndarray:
    """(2N, D) embeddings of a .bin set's already-aligned images."""
    from tqdm import tqdm

    cache = cache or ArrayCache(None, {"embedding": ((embedder.embedding_size,), "float32"), "detected": ((), "bool")})
    keys = [f"{key_prefix}#{i}" for i in range(len(binset.images))]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    tpl = embedder.preprocessing.template
    for start in tqdm(range(0, len(todo), batch_size), desc="embed", unit="batch", disable=not progress or None):
        chunk = todo[start:start + batch_size]
        crops = np.stack([_fit_bin_crop(load_image(binset.images[i]), tpl) for i in chunk])
        for i, e in zip(chunk, embedder.embed(crops, batch_size=batch_size, flip=flip)):
            cache.put(keys[i], embedding=e, detected=True)
    cache.save()
    return np.stack([cache.get(k)["embedding"] for k in keys]).astype(np.float32)


# -- identification ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IdentSplit:
    """LFW identification split: one gallery image per enrolled person, the rest probes."""

    people: list[str]
    gallery: list[Path]
    gallery_ids: np.ndarray   # (G,) index into people
    probes: list[Path]
    probe_ids: np.ndarray     # (Q,)
    unknown: list[Path]       # images of people not enrolled


def lfw_identification_split(images_dir: str | os.PathLike, min_images: int = 2) -> IdentSplit:
    """People with ≥ ``min_images`` images: first image (sorted by name) enrolled, the others
    probes; people with fewer images: unknown probes."""
    root = Path(images_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such image folder")
    people, gallery, gids, probes, pids, unknown = [], [], [], [], [], []
    for person in sorted(d for d in root.iterdir() if d.is_dir()):
        imgs = sorted(p for p in person.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not imgs:
            continue
        if len(imgs) >= min_images:
            pid = len(people)
            people.append(person.name)
            gallery.append(imgs[0])
            gids.append(pid)
            probes += imgs[1:]
            pids += [pid] * (len(imgs) - 1)
        else:
            unknown += imgs
    if not gallery or not probes or not unknown:
        raise ValueError(f"{root}: need people with >= {min_images} images and people with fewer "
                         f"(found {len(gallery)} enrolled, {len(unknown)} unknown images)")
    return IdentSplit(people, gallery, np.array(gids), probes, np.array(pids), unknown)


def search_gallery(gallery: np.ndarray, queries: np.ndarray, k: int, model_id: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by cosine through :class:`facerec.gallery.Gallery` (flat FAISS index):
    (Q, k) scores and gallery row indices, best first (one template per gallery row)."""
    from facerec.gallery import Gallery

    g = Gallery(dim=gallery.shape[1], model_id=model_id, index="Flat")
    g.enroll_many([str(i) for i in range(len(gallery))], gallery, model_id=model_id)
    k = min(k, len(gallery))
    results = g.search_embeddings(np.asarray(queries, dtype=np.float32), k=k, model_id=model_id)
    scores = np.array([[m.score for m in r.matches] for r in results], dtype=np.float32).reshape(len(results), k)
    idx = np.array([[int(m.identity) for m in r.matches] for r in results], dtype=np.int64).reshape(len(results), k)
    return scores, idx


@dataclass(frozen=True)
class IdentReport:
    n_enrolled: int
    n_probes: int
    n_unknown: int
    rank: dict[int, float]
    open_set: list[OpenSetPoint]
    n_images: int
    fallback_images: list[Path]
    seconds: float

    def to_dict(self, root: Path | None = None) -> dict[str, Any]:
        return {"enrolled": self.n_enrolled, "known_probes": self.n_probes, "unknown_probes": self.n_unknown,
                "rank": {str(k): v for k, v in self.rank.items()},
                "dir_at_far": [p.to_dict() for p in self.open_set],
                "images": {"total": self.n_images, "fallback_center": len(self.fallback_images),
                           "fallback_files": [_rel(p, root) for p in self.fallback_images]},
                "seconds": round(self.seconds, 2)}


def evaluate_identification(recognizer: FaceRecognizer, split: IdentSplit, *, flip: bool = False,
                            batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
                            ranks: Sequence[int] = IDENT_RANKS, fars: Sequence[float] = IDENT_FARS,
                            progress: bool = True) -> IdentReport:
    """Closed-set rank-k and open-set DIR@FAR over a gallery/probe split."""
    t0 = time.perf_counter()
    images = embed_image_files(recognizer, split.gallery + split.probes + split.unknown, flip=flip,
                               batch_size=batch_size, cache_dir=cache_dir, progress=progress)
    idx = images.index()
    emb = images.embeddings
    g = emb[[idx[p] for p in split.gallery]]
    k = min(max(ranks), len(split.gallery))
    model_id = recognizer.model_id
    ks, ki = search_gallery(g, emb[[idx[p] for p in split.probes]], k, model_id)
    us, _ = search_gallery(g, emb[[idx[p] for p in split.unknown]], 1, model_id)
    ranked = split.gallery_ids[ki]  # (Q, k) identities, best first
    rank = rank_k_accuracy(ranked, split.probe_ids, [r for r in ranks if r <= k])
    correct = ranked[:, 0] == split.probe_ids
    open_set = [dir_at_far(ks[:, 0], correct, us[:, 0], f) for f in fars]
    return IdentReport(len(split.gallery), len(split.probes), len(split.unknown), rank, open_set,
                       len(images.paths), images.fallback_paths, time.perf_counter() - t0)


def format_identification(d: dict[str, Any]) -> str:
    m = d["model"]
    lines = [f"{d['protocol']}: {d['enrolled']} people enrolled (1 image each), {d['known_probes']} known probes, "
             f"{d['unknown_probes']} unknown probes",
             f"model: {m['backbone']} {m['fingerprint']} ({m['weights'] or 'default'}), {m['precision']}, "
             f"flip TTA {'on' if m['flip'] else 'off'}",
             f"images: {d['images']['total']}, {d['images']['fallback_center']} without a detected face (centre crop used)"]
    lines += [f"rank-{k}: {_pct(v)}" for k, v in d["rank"].items()]
    for p in d["dir_at_far"]:
        thr = "none" if p["threshold"] is None else f"{p['threshold']:.4f}"
        lines.append(f"DIR @ FAR {p['target_far']:g}: {_pct(p['dir'])} (FAR {p['far']:.4f}, threshold {thr})")
    lines.append(f"time: {d['seconds']:.1f} s")
    return "\n".join(lines)


# -- CLI --------------------------------------------------------------------------------------

def _add_common(p: argparse.ArgumentParser, pairs_outputs: bool = True) -> None:
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation (embedding of image + mirror)")
    p.add_argument("--batch-size", type=int, default=64, help="embedding batch size (default: 64)")
    p.add_argument("--cache", metavar="DIR", help=f"embedding cache folder (default: $FACEREC_CACHE_DIR or {default_cache_dir()})")
    p.add_argument("--no-cache", action="store_true", help="compute everything, write no cache")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    if pairs_outputs:
        p.add_argument("--scores-out", metavar="FILE", help="write 'fold label score image_a image_b' per pair (TSV)")
        p.add_argument("--plot", metavar="PNG", help="write the ROC curve (TAR vs log FAR)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="benchmark a model: LFW 10-fold, CSV pairs, .bin sets, LFW identification",
                       description="Verification accuracy (k-fold, threshold chosen on the held-out folds' "
                                   "complement), ROC AUC, EER, TAR@FAR; or identification rank-k and DIR@FAR.")
    psub = p.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)

    q = psub.add_parser("lfw", help="LFW verification with the official pairs.txt (10 folds)")
    q.add_argument("--images", required=True, metavar="DIR", help="LFW image folder (<DIR>/<Name>/<Name>_0001.jpg)")
    q.add_argument("--pairs", required=True, metavar="FILE", help="pairs.txt")
    q.add_argument("--folds", type=int, metavar="N", help="use only the first N folds (quick look; N >= 2)")
    _add_common(q)
    add_model_args(q)
    q.set_defaults(func=run_lfw)

    q = psub.add_parser("csv", help="verification on a CSV pair list (path_a,path_b,same[,fold])")
    q.add_argument("csv_file", metavar="FILE.csv")
    q.add_argument("--images", metavar="DIR", help="folder relative paths start from (default: the CSV's folder)")
    q.add_argument("--n-folds", type=int, default=10, help="folds when the CSV has no fold column (default: 10)")
    _add_common(q)
    add_model_args(q)
    q.set_defaults(func=run_csv)

    q = psub.add_parser("bin", help="verification on an insightface .bin set (aligned crops)")
    q.add_argument("bin_file", metavar="FILE.bin")
    q.add_argument("--n-folds", type=int, default=10, help="contiguous folds, as insightface (default: 10)")
    _add_common(q)
    add_model_args(q)
    q.set_defaults(func=run_bin)

    q = psub.add_parser("lfw-ident", help="LFW identification: rank-1/5 and open-set DIR@FAR")
    q.add_argument("--images", required=True, metavar="DIR", help="LFW image folder")
    _add_common(q, pairs_outputs=False)
    add_model_args(q)
    q.set_defaults(func=run_lfw_ident)


def _cache_dir(args: argparse.Namespace) -> Path | None:
    return None if args.no_cache else Path(args.cache) if args.cache else default_cache_dir()


def _finish_pairs(args: argparse.Namespace, ev: PairEvaluation, model: dict[str, Any], protocol: str,
                  root: Path | None) -> int:
    if args.scores_out:
        write_scores(args.scores_out, ev.pairs, ev.scores, root)
    if args.plot:
        plot_roc({f"{model['backbone']} ({_pct(ev.report.kfold.mean)})": ev.report.roc}, args.plot, title=protocol)
    d = verification_dict(ev, protocol, model, root)
    d["scores_out"], d["plot"] = args.scores_out, args.plot
    if args.json:
        emit_json(d)
    else:
        print(format_verification(d))
        for what, path in (("scores", args.scores_out), ("ROC plot", args.plot)):
            if path:
                print(f"{what} written to {path}")
    return 0


def run_lfw(args: argparse.Namespace) -> int:
    pairs = read_lfw_pairs(args.pairs, args.images)
    if args.folds is not None:
        if args.folds < 2:
            raise ValueError("--folds must be >= 2")
        pairs = [p for p in pairs if p.fold < args.folds]
    rec = load_recognizer(args)
    ev = evaluate_pairs(rec, pairs, flip=args.flip, batch_size=args.batch_size, cache_dir=_cache_dir(args))
    n_folds = len({p.fold for p in pairs})
    return _finish_pairs(args, ev, model_info(rec.embedder, args.weights, args.flip, rec.frontalize),
                         f"LFW {n_folds}-fold verification", Path(args.images))


def run_csv(args: argparse.Namespace) -> int:
    pairs = read_csv_pairs(args.csv_file, args.images, n_folds=args.n_folds)
    rec = load_recognizer(args)
    ev = evaluate_pairs(rec, pairs, flip=args.flip, batch_size=args.batch_size, cache_dir=_cache_dir(args))
    root = Path(args.images) if args.images else Path(args.csv_file).parent
    return _finish_pairs(args, ev, model_info(rec.embedder, args.weights, args.flip, rec.frontalize),
                         f"{Path(args.csv_file).name} k-fold verification", root)


def run_bin(args: argparse.Namespace) -> int:
    if args.frontalize:
        raise ValueError("--frontalize needs detected landmarks; .bin sets hold aligned crops without them")
    t0 = time.perf_counter()
    binset = load_bin(args.bin_file)
    embedder = Embedder.load(args.weights or default_weights(), device=args.device, precision=args.precision)
    cache_dir = _cache_dir(args)
    cache = ArrayCache(
        cache_dir / f"embed-{embedder.fingerprint()}-{spec_hash(_model_spec(embedder, args.flip, 'bin'))}.npz"
        if cache_dir else None, {"embedding": ((embedder.embedding_size,), "float32"), "detected": ((), "bool")})
    emb = embed_bin(embedder, binset, flip=args.flip, batch_size=args.batch_size, cache=cache,
                    key_prefix=file_key(args.bin_file))
    scores = cosine_similarity(emb[0::2], emb[1::2]).astype(np.float64)
    folds = binset.folds(args.n_folds)
    report = evaluate_scores(scores, binset.issame, folds)
    name = Path(args.bin_file).name
    pairs = [Pair(Path(f"{name}#{2 * i}"), Path(f"{name}#{2 * i + 1}"), bool(s), int(f))
             for i, (s, f) in enumerate(zip(binset.issame, folds))]
    ev = PairEvaluation(pairs, scores, report, len(binset.images), [], time.perf_counter() - t0)
    return _finish_pairs(args, ev, model_info(embedder, args.weights, args.flip), f"{name} {args.n_folds}-fold verification",
                         None)


def run_lfw_ident(args: argparse.Namespace) -> int:
    split = lfw_identification_split(args.images)
    rec = load_recognizer(args)
    rep = evaluate_identification(rec, split, flip=args.flip, batch_size=args.batch_size, cache_dir=_cache_dir(args))
    d = {"protocol": "LFW identification", "model": model_info(rec.embedder, args.weights, args.flip, rec.frontalize),
         **rep.to_dict(Path(args.images))}
    if args.json:
        emit_json(d)
    else:
        print(format_identification(d))
    return 0
