"""Clustering quality against known identities: pairwise and BCubed precision/recall/F1.

Both are computed from the contingency table (faces per (true person, predicted cluster)
cell) in O(N log N), never by enumerating the N² pairs. Label ``-1`` ("unclustered") is
treated as a cluster of its own for each such face (a singleton), in the truth and in the
prediction alike.

* Pairwise: over all pairs of faces, precision = pairs put together that are the same person
  / pairs put together; recall = same-person pairs put together / same-person pairs.
* BCubed (Bagga & Baldwin 1998; Amigó et al. 2009): per face, precision = share of its
  cluster that is its person, recall = share of its person that is in its cluster; averaged
  over faces. Unlike pairwise scores, big clusters do not dominate.

With no predicted pairs (all singletons) pairwise precision is 1 by convention, and with no
same-person pairs pairwise recall is 1; F1 is 0 when precision + recall is 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClusterScores:
    """Quality of a predicted clustering against the truth (see the module docstring)."""

    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    n_faces: int
    n_clusters: int  # predicted clusters, each unclustered face counted as one
    n_true_clusters: int
    n_unclustered: int  # faces predicted -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def singletons(labels: np.ndarray) -> np.ndarray:
    """(N,) int labels with every ``-1`` replaced by a fresh label of its own."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    _, out = np.unique(labels, return_inverse=True)  # 0..C-1, any hashable-sortable labels
    out = out.ravel().astype(np.int64)
    unclustered = np.flatnonzero(labels == -1) if np.issubdtype(labels.dtype, np.number) else np.zeros(0, int)
    out[unclustered] = out.max(initial=-1) + 1 + np.arange(unclustered.size)
    return out


def contingency(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero cells of the contingency table → (n_ij, a_i, b_j), all (cells,) int64:
    faces in the cell, faces of the cell's true person, faces of the cell's predicted cluster."""
    t, p = singletons(truth), singletons(pred)
    if t.shape != p.shape:
        raise ValueError(f"truth and pred differ in length: {t.size} vs {p.size}")
    a, b = np.bincount(t), np.bincount(p)
    cells, n_ij = np.unique(t * np.int64(p.max(initial=0) + 1) + p, return_counts=True)
    ti, pj = np.divmod(cells, np.int64(p.max(initial=0) + 1))
    return n_ij.astype(np.int64), a[ti].astype(np.int64), b[pj].astype(np.int64)


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _pairs(x: np.ndarray) -> int:
    x = x.astype(np.int64)
    return int(np.sum(x * (x - 1) // 2))


def pairwise_scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """Pairwise (precision, recall, F1)."""
    n_ij, _, _ = contingency(truth, pred)
    t, p = singletons(truth), singletons(pred)
    together_same = _pairs(n_ij)
    together = _pairs(np.bincount(p))
    same = _pairs(np.bincount(t))
    precision = together_same / together if together else 1.0
    recall = together_same / same if same else 1.0
    return precision, recall, _f1(precision, recall)


def bcubed_scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """BCubed (precision, recall, F1): the face-averaged precision and recall and their harmonic mean."""
    n_ij, a_i, b_j = contingency(truth, pred)
    n = int(n_ij.sum())
    if n == 0:
        return 1.0, 1.0, 1.0
    # Each of the n_ij faces of a cell has precision n_ij / b_j and recall n_ij / a_i.
    sq = n_ij.astype(np.float64) ** 2
    precision = float(np.sum(sq / b_j) / n)
    recall = float(np.sum(sq / a_i) / n)
    return precision, recall, _f1(precision, recall)


def cluster_scores(truth: np.ndarray, pred: np.ndarray) -> ClusterScores:
    """All scores of ``pred`` against ``truth`` (both (N,) labels; ``-1`` = unclustered)."""
    pp, pr, pf = pairwise_scores(truth, pred)
    bp, br, bf = bcubed_scores(truth, pred)
    pred_arr = np.asarray(pred)
    unclustered = int(np.sum(pred_arr == -1)) if np.issubdtype(pred_arr.dtype, np.number) else 0
    return ClusterScores(pp, pr, pf, bp, br, bf, n_faces=int(pred_arr.size),
                         n_clusters=int(np.unique(singletons(pred)).size),
                         n_true_clusters=int(np.unique(singletons(truth)).size), n_unclustered=unclustered)
