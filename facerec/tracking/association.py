"""Which detection continues which track: one Hungarian assignment on ``1 − IoU`` of predicted
boxes and detections, with an IoU gate; appearance joins the cost only where boxes overlap
heavily; unexplained detections may revive a lost track of the same face."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from facerec.tracking.motion import iou_matrix

log = logging.getLogger(__name__)

_BIG = 1e6  # cost of a forbidden pair in the assignment


def ambiguous_detections(iou: np.ndarray, allowed: np.ndarray, ambiguity_iou: float) -> set[int]:
    """Detections whose match motion cannot settle: overlapping two predictions heavily, or
    competing with another detection for a prediction; closed over the tracks they could
    take, so all pairs of one tangle get the appearance term (comparable costs).
    ``iou``, ``allowed``: (T, N) predictions × detections."""
    if iou.size == 0:
        return set()
    heavy = iou >= ambiguity_iou
    dets = set(np.flatnonzero(heavy.sum(0) >= 2).tolist())
    for ti in np.flatnonzero(heavy.sum(1) >= 2):
        dets.update(np.flatnonzero(heavy[ti]).tolist())
    grown = True
    while grown and dets:
        tracks = np.flatnonzero(allowed[:, sorted(dets)].any(1))
        more = set(np.flatnonzero(allowed[tracks].any(0)).tolist()) if len(tracks) else set()
        grown = not more <= dets
        dets |= more
    return dets


def assign(cost: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, set[int]]:
    """Minimum-cost matching of (T, N) ``cost`` over ``allowed`` pairs: (N,) track index per
    detection (−1: none) and the set of matched tracks."""
    t, n = cost.shape
    out = np.full(n, -1, dtype=np.int64)
    matched: set[int] = set()
    if t and n:
        rows, cols = linear_sum_assignment(np.where(allowed, cost, _BIG))
        for r, c in zip(rows, cols):
            if allowed[r, c]:
                out[c] = r
                matched.add(int(r))
    return out, matched


def revive_pairs(appearances: dict[int, np.ndarray], loose: Sequence[int], boxes: np.ndarray, pred: np.ndarray,
                 det_emb: dict[int, np.ndarray], min_similarity: float, radius: float) -> list[tuple[int, int]]:
    """(track index, detection) pairs where an unmatched track (``appearances``: index → (D,)
    unit appearance) looks like (cosine ≥ ``min_similarity``) and is near (``radius`` box
    heights of its prediction) an unexplained detection; best pairs first, each used once."""
    pairs = []
    for ti, app in appearances.items():
        cp = (pred[ti, :2] + pred[ti, 2:]) / 2
        reach = radius * max(1.0, pred[ti, 3] - pred[ti, 1])
        for j in loose:
            cd = (boxes[j, :2] + boxes[j, 2:]) / 2
            sim = float(app @ det_emb[j])
            if sim >= min_similarity and float(np.hypot(*(cd - cp))) <= reach:
                pairs.append((sim, ti, j))
    out, used_t, used_d = [], set(), set()
    for sim, ti, j in sorted(pairs, reverse=True):
        if ti not in used_t and j not in used_d:
            used_t.add(ti)
            used_d.add(j)
            out.append((ti, j))
            log.debug("track index %d revived by appearance (cosine %.3f)", ti, sim)
    return out


def overlap_with_others(boxes: np.ndarray, iou: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    """(N,) how much each detection overlaps another face (another detection, or the
    prediction of a track it was not given): an occluded crop may show part of someone else."""
    n = len(boxes)
    overlap = np.zeros(n)
    if n > 1:
        others = iou_matrix(boxes, boxes)
        np.fill_diagonal(others, 0.0)
        overlap = others.max(1)
    for j in range(n):
        rest = [ti for ti in range(iou.shape[0]) if ti != assigned[j]]
        if rest:
            overlap[j] = max(overlap[j], float(iou[rest, j].max()))
    return overlap
