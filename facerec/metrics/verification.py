"""Verification and identification protocol maths: k-fold accuracy, ROC, EER, TAR@FAR, DIR@FAR.

Convention everywhere: a higher ``score`` means "more likely the same person" (cosine
similarity; pass ``-distance`` for distance-based models) and a pair is accepted as "same"
when ``score >= threshold``.

The LFW protocol (Huang et al. 2007, "unrestricted" view 2): for each of the 10 folds, the
threshold maximising accuracy on the other 9 folds is applied to the held-out fold; report
mean ± std of the 10 held-out accuracies (std with ``ddof=0``, as insightface does).
Thresholds are searched exactly (every gap between distinct scores), not on a grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

#: FAR operating points reported by default (10 %, 1 %, 0.1 %).
DEFAULT_FARS: tuple[float, ...] = (1e-1, 1e-2, 1e-3)


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _check_scores(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    if s.size == 0:
        raise ValueError("no scores")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    if y.dtype != np.bool_:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be 0/1 or booleans")
        y = y.astype(bool)
    return s, y


def _check_both_classes(y: np.ndarray) -> None:
    if y.all() or not y.any():
        raise ValueError("need both same (positive) and different (negative) pairs")


def accuracy_at(scores: Any, labels: Any, threshold: float) -> float:
    """Fraction of pairs decided correctly by ``score >= threshold``."""
    s, y = _check_scores(scores, labels)
    return float(np.mean((s >= threshold) == y))


def best_threshold(scores: Any, labels: Any) -> tuple[float, float]:
    """The threshold maximising accuracy on these pairs, and that accuracy.

    Candidates: the lowest score (accept all), every midpoint between consecutive distinct
    scores, and just above the highest score (reject all). Ties between candidates go to the
    middle one of the tied candidates (index ``len // 2`` in increasing order).
    """
    s, y = _check_scores(scores, labels)
    order = np.argsort(s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    uniq, first = np.unique(s_sorted, return_index=True)  # first[k]: #samples with score < uniq[k]
    n, n_pos = s.size, int(y.sum())
    cum_neg = np.concatenate([[0], np.cumsum(~y_sorted)])  # (n+1,) negatives among the k lowest
    below = np.concatenate([first, [n]])                 # (U+1,) samples rejected by candidate k
    rejected_neg = cum_neg[below]
    accepted_pos = n_pos - (below - rejected_neg)
    correct = rejected_neg + accepted_pos                # (U+1,)
    mids = (uniq[:-1] + uniq[1:]) / 2
    mids = np.where(mids > uniq[:-1], mids, uniq[1:])    # adjacent floats: no midpoint exists
    cands = np.concatenate([[uniq[0]], mids, [np.nextafter(uniq[-1], np.inf)]])
    tied = np.flatnonzero(correct == correct.max())
    k = int(tied[len(tied) // 2])
    return float(cands[k]), float(correct[k] / n)


@dataclass(frozen=True)
class KFoldResult:
    """Held-out accuracy per fold with the threshold chosen on the other folds."""

    folds: list[int]
    accuracies: list[float]
    thresholds: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "folds": list(self.folds),
                "accuracies": list(self.accuracies), "thresholds": list(self.thresholds)}


def kfold_accuracy(scores: Any, labels: Any, folds: Any) -> KFoldResult:
    """For each fold ``f``: threshold = :func:`best_threshold` on pairs not in ``f``,
    accuracy measured on the pairs in ``f``. ``folds``: (N,) integer fold id per pair."""
    s, y = _check_scores(scores, labels)
    f = np.asarray(folds).reshape(-1)
    if f.shape != s.shape:
        raise ValueError(f"folds ({f.size}) and scores ({s.size}) differ in length")
    ids = np.unique(f)
    if ids.size < 2:
        raise ValueError("k-fold evaluation needs at least 2 folds")
    accs, thrs = [], []
    for fid in ids:
        test = f == fid
        thr, _ = best_threshold(s[~test], y[~test])
        thrs.append(thr)
        accs.append(float(np.mean((s[test] >= thr) == y[test])))
    return KFoldResult([int(i) for i in ids], accs, thrs)


@dataclass(frozen=True)
class RocCurve:
    """ROC points for decreasing thresholds (scikit-learn's ``roc_curve``, every threshold kept).

    fpr = FAR (false accept rate), tpr = TAR (true accept rate); ``thresholds[0]`` is +inf
    (nothing accepted).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    n_pos: int
    n_neg: int


def roc_curve(scores: Any, labels: Any) -> RocCurve:
    """The ROC curve (via scikit-learn)."""
    from sklearn.metrics import roc_curve as sk_roc

    s, y = _check_scores(scores, labels)
    _check_both_classes(y)
    fpr, tpr, thr = sk_roc(y, s, drop_intermediate=False)
    return RocCurve(fpr, tpr, thr, int(y.sum()), int((~y).sum()))


def roc_auc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``; ties count ½)."""
    from sklearn.metrics import roc_auc_score

    s, y = _check_scores(scores, labels)
    _check_both_classes(y)
    return float(roc_auc_score(y, s))


def equal_error_rate(roc: RocCurve) -> tuple[float, float]:
    """EER: where FAR = FRR (= 1 − TAR) on the piecewise-linear ROC; and the threshold of the
    first ROC point at or past that crossing."""
    # FAR − FRR in exact integer counts (scaled by n_pos·n_neg): non-decreasing from
    # −n_pos·n_neg (nothing accepted) to +n_pos·n_neg (all accepted).
    fp = np.rint(roc.fpr * roc.n_neg).astype(np.int64)
    fn = roc.n_pos - np.rint(roc.tpr * roc.n_pos).astype(np.int64)
    d_int = fp * roc.n_pos - fn * roc.n_neg
    i = int(np.argmax(d_int >= 0))
    if d_int[i] == 0 or i == 0:
        return float(roc.fpr[i]), float(roc.thresholds[i])
    d = roc.fpr - (1.0 - roc.tpr)
    t = -d[i - 1] / (d[i] - d[i - 1])
    eer = roc.fpr[i - 1] + t * (roc.fpr[i] - roc.fpr[i - 1])
    return float(eer), float(roc.thresholds[i])


@dataclass(frozen=True)
class OperatingPoint:
    """TAR at the loosest threshold whose FAR does not exceed ``target_far``."""

    target_far: float
    tar: float
    far: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {"target_far": self.target_far, "tar": self.tar, "far": self.far,
                "threshold": _finite_or_none(self.threshold)}


def tar_at_far(roc: RocCurve, far: float) -> OperatingPoint:
    """TAR at FAR ≤ ``far``. With ``n_neg`` impostor pairs the achievable FARs are multiples
    of ``1 / n_neg``; a threshold of +inf means no threshold meets the target."""
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"FAR must be in [0, 1], got {far}")
    # Points are sorted by fpr; among equal fpr, tpr increases: the last point with
    # fpr <= far has the highest TAR.
    i = int(np.searchsorted(roc.fpr, far, side="right")) - 1
    return OperatingPoint(float(far), float(roc.tpr[i]), float(roc.fpr[i]), float(roc.thresholds[i]))


@dataclass(frozen=True)
class VerificationReport:
    """Everything the verification protocol reports for one set of scored pairs."""

    n_pairs: int
    n_pos: int
    kfold: KFoldResult
    auc: float
    eer: float
    eer_threshold: float
    operating_points: list[OperatingPoint]
    best_threshold: float
    best_accuracy: float
    roc: RocCurve = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.n_pairs, "positives": self.n_pos, "negatives": self.n_pairs - self.n_pos,
            "accuracy": self.kfold.to_dict(), "roc_auc": self.auc, "eer": self.eer,
            "eer_threshold": _finite_or_none(self.eer_threshold),
            "tar_at_far": [p.to_dict() for p in self.operating_points],
            # Chosen on all pairs (so its accuracy is optimistic): the threshold to ship.
            "best_threshold": {"threshold": self.best_threshold, "accuracy": self.best_accuracy},
        }


def evaluate_scores(scores: Any, labels: Any, folds: Any, fars: Sequence[float] = DEFAULT_FARS) -> VerificationReport:
    """k-fold accuracy, ROC AUC, EER, TAR@FAR and the best global threshold of scored pairs."""
    s, y = _check_scores(scores, labels)
    _check_both_classes(y)
    kf = kfold_accuracy(s, y, folds)
    roc = roc_curve(s, y)
    eer, eer_thr = equal_error_rate(roc)
    best_thr, best_acc = best_threshold(s, y)
    return VerificationReport(int(s.size), int(y.sum()), kf, roc_auc(s, y), eer, eer_thr,
                              [tar_at_far(roc, f) for f in fars], best_thr, best_acc, roc)


# -- identification ---------------------------------------------------------------------------

def rank_k_accuracy(ranked_ids: Any, probe_ids: Any, ks: Iterable[int] = (1, 5)) -> dict[int, float]:
    """Closed-set identification (CMC points): fraction of probes whose true identity is among
    the top ``k`` gallery results. ``ranked_ids``: (Q, K) gallery identities, best first."""
    r = np.asarray(ranked_ids)
    p = np.asarray(probe_ids).reshape(-1)
    if r.ndim != 2 or r.shape[0] != p.size:
        raise ValueError(f"ranked_ids must be (Q, K) with Q = {p.size}; got {r.shape}")
    hit = r == p[:, None]  # (Q, K)
    out = {}
    for k in ks:
        if not 1 <= k <= r.shape[1]:
            raise ValueError(f"rank {k} needs at least {k} results per probe; have {r.shape[1]}")
        out[int(k)] = float(hit[:, :k].any(axis=1).mean())
    return out


@dataclass(frozen=True)
class OpenSetPoint:
    """Detection-and-identification rate at a false-alarm rate (open-set identification)."""

    target_far: float
    dir: float
    far: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {"target_far": self.target_far, "dir": self.dir, "far": self.far,
                "threshold": _finite_or_none(self.threshold)}


def dir_at_far(known_scores: Any, known_correct: Any, unknown_scores: Any, far: float) -> OpenSetPoint:
    """DIR at FAR ≤ ``far`` (as in BLUFR, Liao et al. 2014).

    known_scores / known_correct: (Q,) top-1 score of each probe whose identity is enrolled,
    and whether the top-1 identity is right; unknown_scores: (U,) top-1 score of each probe
    whose identity is not enrolled. A probe raises an alarm when its top-1 score ≥ threshold;
    the threshold is the lowest that keeps the fraction of unknown probes raising an alarm
    ≤ ``far``; DIR is the fraction of known probes identified at rank 1 above it.
    """
    ks = np.asarray(known_scores, dtype=np.float64).reshape(-1)
    kc = np.asarray(known_correct, dtype=bool).reshape(-1)
    us = np.sort(np.asarray(unknown_scores, dtype=np.float64).reshape(-1))[::-1]
    if ks.shape != kc.shape or ks.size == 0 or us.size == 0:
        raise ValueError("need known probes (scores and correctness of equal length) and unknown probes")
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"FAR must be in [0, 1], got {far}")
    allowed = int(math.floor(far * us.size + 1e-9))  # false alarms we may raise
    if allowed >= us.size:
        thr = float(min(us[-1], ks.min()))
    else:
        thr = float(np.nextafter(us[allowed], np.inf))  # strictly above the (allowed+1)-th highest
    return OpenSetPoint(float(far), float(np.mean(kc & (ks >= thr))), float(np.mean(us >= thr)), thr)


def open_set_threshold(impostor_scores: Any, far: float) -> float:
    """The lowest threshold that at most ``far`` of the impostor comparisons reach, under the
    one rule of the project: a comparison is accepted when ``score >= threshold``. That is the
    next float above the impostor score with ``floor(far·n)`` scores above it, so ties cannot
    let more through. Needs at least ``1 / far`` impostor scores to mean anything; fewer raise
    ValueError."""
    s = np.asarray(impostor_scores)
    # The next float *in the scores' own precision*: float32 scores compared with a float64
    # threshold one float64 step above a score are compared in float32 (NumPy's promotion of a
    # Python float), where that step vanishes and the tie would be accepted.
    s = np.sort((s if s.dtype in (np.float32, np.float64) else s.astype(np.float64)).ravel())
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far}")
    if s.size < 1.0 / far or not np.all(np.isfinite(s)):
        raise ValueError(f"{s.size} impostor scores cannot resolve a false-accept rate of {far:g}")
    allowed = int(np.floor(far * s.size))  # impostor scores that may reach the threshold
    top = s[s.size - 1 - allowed]
    return float(np.nextafter(top, np.array(np.inf, dtype=s.dtype)))
