"""Error-versus-reject curves: how well a face quality predicts recognition errors.

The face-image-quality literature (Grother & Tabassi 2007; ISO/IEC 29794-1's EDC; SER-FIQ,
MagFace, CR-FIQA) measures a quality by rejecting the comparisons of lowest quality and
watching the false non-match rate fall, with the decision threshold held where it gave the
target false match rate on all comparisons. A comparison's quality is the lower of its two
faces' (``min``). Here the fraction rejected is of the genuine comparisons (the EDC
convention: the curve then starts at the plain FNMR and a perfect quality reaches 0 once
the rejected fraction equals the FNMR).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


def threshold_at_fmr(impostor_scores: Any, fmr: float) -> float:
    """The lowest threshold ``t`` (a match is ``score >= t``) at which at most ``fmr`` of the
    ``impostor_scores`` match: the ``ceil``-free rule "allow ``floor(fmr·N)`` impostors above".

    With N impostors and k = floor(fmr·N), ``t`` is just above the (k+1)-th highest impostor
    score, so exactly k (or fewer, on ties) impostors reach it.
    """
    s = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]  # highest first
    if s.size == 0:
        raise ValueError("no impostor scores")
    k = int(np.floor(fmr * s.size + 1e-9))
    if k >= s.size:
        return float(s[-1])
    return float(np.nextafter(s[k], np.inf))


@dataclass(frozen=True)
class RejectCurve:
    """FNMR after rejecting each ``fraction`` of the lowest-quality genuine comparisons, at the
    fixed ``threshold`` (FMR ``fmr`` on all impostor comparisons)."""

    fmr: float
    threshold: float
    fractions: np.ndarray  # (F,) rejected share of genuine comparisons
    fnmr: np.ndarray       # (F,) false non-match rate among the kept genuine comparisons
    kept: np.ndarray       # (F,) genuine comparisons kept

    def at(self, fraction: float) -> float:
        """FNMR at the rejected ``fraction`` (must be one of ``fractions``)."""
        i = int(np.argmin(np.abs(self.fractions - fraction)))
        if abs(self.fractions[i] - fraction) > 1e-9:
            raise KeyError(f"fraction {fraction} not on the curve")
        return float(self.fnmr[i])

    def to_dict(self) -> dict[str, Any]:
        return {"fmr": self.fmr, "threshold": self.threshold, "fractions": [float(f) for f in self.fractions],
                "fnmr": [float(v) for v in self.fnmr], "kept": [int(k) for k in self.kept]}


def pair_quality(qa: Any, qb: Any) -> np.ndarray:
    """A comparison's quality: the lower of its two faces' (the weaker face decides)."""
    return np.minimum(np.asarray(qa, dtype=np.float64), np.asarray(qb, dtype=np.float64))


def error_versus_reject(scores: Any, same: Any, quality: Any, fmr: float = 1e-3,
                        fractions: Sequence[float] = tuple(np.round(np.arange(0, 0.301, 0.02), 2))) -> RejectCurve:
    """Error-versus-reject curve of a comparison ``quality`` (P,) for ``scores`` (P,) with
    labels ``same`` (P,) bool.

    The threshold is fixed at FMR ``fmr`` over all impostor comparisons. For each fraction r,
    the ``floor(r·G)`` genuine comparisons of lowest quality are rejected (ties broken by the
    stable order of ``quality``, i.e. input order) and the FNMR of the rest reported.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    q = np.asarray(quality, dtype=np.float64)
    if not (s.shape == y.shape == q.shape) or s.ndim != 1:
        raise ValueError(f"scores, same and quality must be (P,) arrays; got {s.shape}, {y.shape}, {q.shape}")
    thr = threshold_at_fmr(s[~y], fmr)
    gs, gq = s[y], q[y]
    order = np.argsort(gq, kind="stable")          # lowest quality first
    miss_sorted = (gs[order] < thr).astype(np.int64)
    # misses among the kept = total − misses among the rejected prefix
    prefix = np.concatenate([[0], np.cumsum(miss_sorted)])
    g = gs.size
    fr = np.asarray(fractions, dtype=np.float64)
    n_rej = np.floor(fr * g + 1e-9).astype(np.int64)
    kept = g - n_rej
    fnmr = (prefix[-1] - prefix[n_rej]) / np.maximum(kept, 1)
    return RejectCurve(fmr=fmr, threshold=thr, fractions=fr, fnmr=fnmr, kept=kept)
