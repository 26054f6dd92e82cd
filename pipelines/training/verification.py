"""Verification during training: pairs, scores, accuracy.

Two sources of pairs: generated same/different pairs of the held-out validation identities,
and a pairs file in LFW's ``pairs.txt`` format (evaluated, never trained on), whose images
are detected and aligned with MTCNN once and cached.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from facerec.alignment import align_face, center_crop_landmarks
from facerec.detection import MTCNNDetector, pick_central
from facerec.embedder import Embedder
from facerec.image import load_image
from facerec.similarity import cosine_similarity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pairs:
    """``left``/``right``: (P,) indices into ``images``; ``same``: (P,) bool; ``fold``: (P,) int."""

    images: tuple[Path, ...]
    left: np.ndarray
    right: np.ndarray
    same: np.ndarray
    fold: np.ndarray


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold maximising accuracy of ``score >= thr`` ⇔ same, and that accuracy.

    Exact: every midpoint between consecutive distinct sorted scores is tried (plus both ends).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    order = np.argsort(s)
    s, y = s[order], y[order]
    # Threshold between position k-1 and k: the first k are called "different".
    neg_below = np.concatenate([[0], np.cumsum(~y)])  # correct "different" calls
    pos_above = y.sum() - np.concatenate([[0], np.cumsum(y)])  # correct "same" calls
    correct = neg_below + pos_above
    valid = np.ones(len(s) + 1, dtype=bool)
    valid[1:-1] = s[1:] > s[:-1]  # cannot split between equal scores
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        thr = s[0] - 1e-6
    elif k == len(s):
        thr = s[-1] + 1e-6
    else:
        thr = (s[k - 1] + s[k]) / 2
    return float(thr), float(correct[k] / len(s))


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> tuple[float, float, float]:
    """LFW protocol: per fold, the accuracy at the threshold chosen on the other folds.

    Returns (mean accuracy, std over folds, mean threshold).
    """
    accs, thrs = [], []
    for f in np.unique(fold):
        test = fold == f
        thr, _ = best_threshold(scores[~test], same[~test])
        accs.append(float(np.mean((scores[test] >= thr) == same[test])))
        thrs.append(thr)
    return float(np.mean(accs)), float(np.std(accs)), float(np.mean(thrs))


def generated_pairs(groups: Sequence[Sequence[Path]], max_pairs: int, seed: int) -> Pairs:
    """Up to ``max_pairs`` pairs of the given identities (one group of images each), half
    same-identity and half different, drawn with a fixed seed; 10 folds assigned round-robin."""
    rng = np.random.default_rng([seed, 104729])
    images = [p for g in groups for p in g]
    owner = np.array([k for k, g in enumerate(groups) for _ in g])
    pos = [(i, j) for i in range(len(images)) for j in range(i + 1, len(images)) if owner[i] == owner[j]]
    n = min(len(pos), max_pairs // 2)
    if n == 0 or len(groups) < 2:
        raise ValueError("validation needs >= 2 held-out identities with >= 2 images")
    pos_sel = [pos[k] for k in rng.choice(len(pos), size=n, replace=False)]
    neg: set[tuple[int, int]] = set()
    while len(neg) < n:
        i, j = (int(v) for v in rng.integers(0, len(images), size=2))
        if owner[i] != owner[j]:
            neg.add((min(i, j), max(i, j)))
    pairs = pos_sel + sorted(neg)
    same = np.array([True] * n + [False] * n)
    return Pairs(tuple(images), np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), same,
                 np.arange(len(pairs)) % 10)


def read_pairs_file(path: str | Path, root: str | Path, limit: int = 0) -> Pairs:
    """Parse LFW ``pairs.txt``: a header ``folds n`` then per fold n lines ``name i j`` (same)
    and n lines ``name1 i name2 j`` (different); images are ``root/name/name_%04d.jpg``."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    header = lines[0].split()
    folds, per = (int(header[0]), int(header[1])) if len(header) == 2 else (1, 0)
    rows = [ln.split() for ln in lines[1:] if ln.strip()]
    root = Path(root)
    index: dict[Path, int] = {}

    def img(name: str, num: str) -> int:
        p = root / name / f"{name}_{int(num):04d}.jpg"
        return index.setdefault(p, len(index))

    left, right, same, fold = [], [], [], []
    for k, r in enumerate(rows):
        if len(r) == 3:
            a, b, s = img(r[0], r[1]), img(r[0], r[2]), True
        elif len(r) == 4:
            a, b, s = img(r[0], r[1]), img(r[2], r[3]), False
        else:
            raise ValueError(f"{path}: line {k + 2} is not 'name i j' or 'name1 i name2 j'")
        left.append(a)
        right.append(b)
        same.append(s)
        fold.append(k // (2 * per) if per else k % 10)
    if limit:
        # Keep both classes: take the first limit/2 same and the first limit/2 different pairs.
        same_arr = np.array(same)
        keep = np.sort(np.concatenate([np.flatnonzero(same_arr)[:limit // 2], np.flatnonzero(~same_arr)[:limit // 2]]))
        left, right, same, fold = ([x[i] for i in keep] for x in (left, right, same, fold))
    images = tuple(sorted(index, key=index.get))
    return Pairs(images, np.array(left), np.array(right), np.array(same, dtype=bool), np.array(fold))


def align_images_cached(paths: Sequence[Path], template: str, cache_dir: str | Path,
                        detector: MTCNNDetector | None = None, progress: bool = True) -> tuple[np.ndarray, int]:
    """Aligned crops (N, H, W, 3) uint8 of raw photos: MTCNN, the face nearest the centre
    (LFW's convention), a fixed centre crop when none is found. Cached in ``cache_dir`` under
    a hash of the paths and template. Returns (crops, number of centre-crop fallbacks)."""
    key = hashlib.sha256(("\n".join(map(str, paths)) + "|" + template).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"aligned_{template}_{key}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            return z["crops"], int(z["fallbacks"])
    detector = detector or MTCNNDetector()
    crops, fallbacks = [], 0
    for p in tqdm(paths, desc="align pairs", unit="img", disable=not progress):
        rgb = load_image(p)
        h, w = rgb.shape[:2]
        det = pick_central(detector.detect(rgb), w, h)
        if det is None:
            fallbacks += 1
            lm = center_crop_landmarks(w, h, template)
        else:
            lm = det.landmarks
        crops.append(align_face(rgb, lm, template))
    arr = np.stack(crops)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, crops=arr, fallbacks=np.array(fallbacks))
    tmp.replace(cache)
    return arr, fallbacks


def pair_scores(embedder: Embedder, crops: np.ndarray, pairs: Pairs, batch_size: int = 64,
                flip: bool = True) -> np.ndarray:
    """Cosine score of every pair, each image embedded once."""
    emb = embedder.embed(crops, batch_size=batch_size, flip=flip)  # (N, D)
    return cosine_similarity(emb[pairs.left], emb[pairs.right])

