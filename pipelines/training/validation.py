"""Verification during training: generated pairs of the held-out identities, and a pairs
file (LFW ``pairs.txt`` format, evaluation only) through ``pipelines.evaluate``.

The protocol maths (k-fold accuracy, best threshold) are :mod:`facerec.metrics.verification`'s.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec.detection.detector import MTCNNDetector
from facerec.runtime.embedder import Embedder
from facerec.metrics.pairs import Pair, read_lfw_pairs
from facerec.recognizer import FaceRecognizer
from facerec.similarity import cosine_similarity
from facerec.metrics.verification import evaluate_scores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexPairs:
    """Pairs over an image list: ``left``/``right`` (P,) indices into ``images``; ``same``
    (P,) bool; ``fold`` (P,) int."""

    images: tuple[Path, ...]
    left: np.ndarray
    right: np.ndarray
    same: np.ndarray
    fold: np.ndarray


def generated_pairs(groups: Sequence[Sequence[Path]], max_pairs: int, seed: int, folds: int = 10) -> IndexPairs:
    """Up to ``max_pairs`` pairs of the given identities (one group of images each), half
    same-identity and half different, drawn with a fixed seed; folds assigned round-robin."""
    rng = np.random.default_rng([seed, 104729])
    images = [p for g in groups for p in g]
    owner = np.array([k for k, g in enumerate(groups) for _ in g])
    pos = [(i, j) for i in range(len(images)) for j in range(i + 1, len(images)) if owner[i] == owner[j]]
    n = min(len(pos), max_pairs // 2)
    if n == 0 or len(groups) < 2:
        raise ValueError("validation needs >= 2 held-out identities with >= 2 images each")
    pos_sel = [pos[k] for k in sorted(rng.choice(len(pos), size=n, replace=False))]
    neg: set[tuple[int, int]] = set()
    while len(neg) < n:
        i, j = (int(v) for v in rng.integers(0, len(images), size=2))
        if owner[i] != owner[j]:
            neg.add((min(i, j), max(i, j)))
    pairs = pos_sel + sorted(neg)
    same = np.array([True] * n + [False] * n)
    return IndexPairs(tuple(images), np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), same,
                      np.arange(len(pairs)) % folds)


def verify_crops(embedder: Embedder, crops: np.ndarray, pairs: IndexPairs, batch_size: int = 64,
                 flip: bool = True) -> dict[str, float]:
    """Embed aligned crops once, score the pairs: k-fold accuracy and the threshold to ship
    (the best one on all pairs)."""
    emb = embedder.embed(crops, batch_size=batch_size, flip=flip)  # (N, D)
    scores = cosine_similarity(emb[pairs.left], emb[pairs.right])
    rep = evaluate_scores(scores, pairs.same, pairs.fold)
    return {"acc": rep.kfold.mean, "std": rep.kfold.std, "threshold": rep.best_threshold, "auc": rep.auc}


def read_pairs_subset(pairs_file: str | Path, images_dir: str | Path, limit: int = 0) -> list[Pair]:
    """LFW-format pairs; with ``limit``, about ``limit`` of them: the first same and different
    pairs of every fold in equal numbers (so the k-fold protocol still applies)."""
    pairs = read_lfw_pairs(pairs_file, images_dir)
    if limit:
        folds = sorted({p.fold for p in pairs})
        k = max(1, limit // (2 * len(folds)))
        pairs = [p for f in folds for same in (True, False)
                 for p in [q for q in pairs if q.fold == f and q.same == same][:k]]
    return pairs


def verify_pairs_file(embedder: Embedder, detector: MTCNNDetector, pairs: list[Pair], cache_dir: str | Path,
                      batch_size: int = 64, flip: bool = True, progress: bool = True) -> dict[str, Any]:
    """Raw photos of a pairs file: detect (cached), align, embed, k-fold accuracy — the
    evaluation pipeline of ``facerec evaluate``."""
    from pipelines.evaluate import evaluate_pairs
    from pipelines.evaluate.embedding import drop_embedding_caches

    ev = evaluate_pairs(FaceRecognizer(embedder, detector, threshold=0.0), pairs, flip=flip, batch_size=batch_size,
                        cache_dir=cache_dir, progress=progress)
    # The embedding cache is keyed by the weights, which change at every evaluation: drop this
    # state's entries (other models' stay), keep the detections (the slow part).
    drop_embedding_caches(embedder, cache_dir)
    rep = ev.report
    return {"acc": rep.kfold.mean, "std": rep.kfold.std, "threshold": rep.best_threshold,
            "fallbacks": len(ev.fallback_images)}
