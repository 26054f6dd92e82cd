"""Pair verification: score pairs of embedded images, the k-fold report, the scores file,
the ROC plot and the text/JSON views; insightface ``.bin`` sets (aligned crops, no detection)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec import FaceRecognizer, load_image
from facerec.recognizer import EmbedderLike
from facerec.alignment import ARCFACE_112, get_template
from facerec.io.atomic import atomic_write
from facerec.metrics.binset import BinSet
from facerec.io.cache import ArrayCache, content_key
from facerec.metrics.pairs import Pair
from facerec.similarity import cosine_similarity
from facerec.metrics.verification import DEFAULT_FARS, RocCurve, VerificationReport, evaluate_scores

from ..extras import require
from .embedding import EmbeddedImages, embed_fields, embed_image_files


def score_pairs(images: EmbeddedImages, pairs: Sequence[Pair]) -> np.ndarray:
    """(P,) cosine similarity of each pair's two embeddings."""
    idx = images.index()
    a = images.embeddings[[idx[Path(p.path_a)] for p in pairs]]
    b = images.embeddings[[idx[Path(p.path_b)] for p in pairs]]
    return cosine_similarity(a, b).astype(np.float64)


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
    with atomic_write(path, "w") as f:
        f.write("fold\tlabel\tscore\timage_a\timage_b\n")
        for p, s in zip(pairs, scores):
            f.write(f"{p.fold}\t{int(p.same)}\t{float(s):.9g}\t{_rel(p.path_a, root)}\t{_rel(p.path_b, root)}\n")


def plot_roc(curves: dict[str, RocCurve], path: str | os.PathLike, title: str = "ROC") -> None:
    """TAR against FAR (log axis) for each labelled curve, written as an image (Agg backend)."""
    require("plot", "matplotlib").use("Agg")
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


def model_info(embedder: EmbedderLike, weights: str | None, flip: bool, frontalize: bool = False) -> dict[str, Any]:
    from facerec.models import model_name_of

    return {"model": model_name_of(embedder.fingerprint()), "weights": weights, "backbone": embedder.backbone_name, "fingerprint": embedder.fingerprint(),
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
             f"model: {m['backbone']} {m['fingerprint']} ({m['weights'] or m.get('model') or 'default'}), {m['precision']}, "
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


def embed_bin(embedder: EmbedderLike, binset: BinSet, *, flip: bool = False, batch_size: int = 64,
              cache: ArrayCache | None = None, progress: bool = True) -> np.ndarray:
    """(2N, D) embeddings of a .bin set's already-aligned images (cached by each image's bytes)."""
    from tqdm import tqdm

    cache = cache or ArrayCache(None, "embed", None, embed_fields(embedder))
    keys = [content_key(bytes(b)) for b in binset.images]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    tpl = embedder.preprocessing.template
    for start in tqdm(range(0, len(todo), batch_size), desc="embed", unit="batch", disable=not progress or None):
        chunk = todo[start:start + batch_size]
        crops = np.stack([_fit_bin_crop(load_image(binset.images[i]), tpl) for i in chunk])
        for i, e in zip(chunk, embedder.embed(crops, batch_size=batch_size, flip=flip)):
            cache.put(keys[i], embedding=e, detected=True)
    out = np.stack([cache.get(k)["embedding"] for k in keys]).astype(np.float32)
    cache.close()
    return out
