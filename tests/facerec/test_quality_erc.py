"""Error-versus-reject maths against a brute-force computation written separately, and the
FMR threshold against scikit-learn's ROC."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from facerec.metrics.quality_erc import error_versus_reject, pair_quality, threshold_at_fmr


def _brute_fnmr(scores, same, quality, thr, fraction):
    """Reject genuine comparisons one by one, lowest quality first (ties: earlier index first)."""
    gen = [(q, i, s) for i, (s, y, q) in enumerate(zip(scores, same, quality)) if y]
    gen.sort(key=lambda t: (t[0], t[1]))
    n_rej = int(np.floor(fraction * len(gen) + 1e-9))
    kept = gen[n_rej:]
    return sum(1 for _, _, s in kept if s < thr) / len(kept)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reject_curve_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    same = rng.random(n) < 0.5
    quality = np.round(rng.random(n), 2)  # rounded: many ties, to exercise the tie rule
    # low quality lowers genuine scores: rejecting must help
    scores = np.where(same, 0.3 + 0.6 * quality + 0.2 * rng.standard_normal(n), 0.1 * rng.standard_normal(n))
    fractions = [0.0, 0.05, 0.1, 0.2, 0.3]
    curve = error_versus_reject(scores, same, quality, fmr=1e-2, fractions=fractions)
    for f, v in zip(fractions, curve.fnmr):
        assert v == pytest.approx(_brute_fnmr(scores, same, quality, curve.threshold, f), abs=1e-12)
    assert curve.fnmr[-1] < curve.fnmr[0]
    assert curve.at(0.1) == curve.fnmr[2]


def test_threshold_at_fmr_against_sklearn() -> None:
    rng = np.random.default_rng(3)
    imp = rng.standard_normal(5000)
    gen = rng.standard_normal(2000) + 3
    for fmr in (1e-3, 1e-2, 0.1):
        thr = threshold_at_fmr(imp, fmr)
        assert (imp >= thr).mean() <= fmr
        # sklearn: the largest TPR among ROC points with FPR <= fmr equals our TPR at thr
        fpr, tpr, _ = roc_curve(np.r_[np.ones_like(gen), np.zeros_like(imp)], np.r_[gen, imp])
        assert (gen >= thr).mean() == pytest.approx(tpr[fpr <= fmr].max(), abs=1e-12)


def test_pair_quality_is_the_weaker_face() -> None:
    np.testing.assert_array_equal(pair_quality([0.2, 0.9], [0.5, 0.1]), [0.2, 0.1])
