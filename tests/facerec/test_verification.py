"""Protocol maths on synthetic scores: hand-computed cases and brute-force loops written here."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from facerec.metrics.verification import (accuracy_at, best_threshold, dir_at_far, equal_error_rate, evaluate_scores,
                                  kfold_accuracy, rank_k_accuracy, roc_auc, roc_curve, tar_at_far)


def _random_scores(seed: int, n_pos: int = 400, n_neg: int = 600, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    s = np.concatenate([rng.normal(0.6, 0.15, n_pos), rng.normal(0.2, 0.15, n_neg)])
    if decimals is not None:  # force ties
        s = np.round(s, decimals)
    y = np.concatenate([np.ones(n_pos, bool), np.zeros(n_neg, bool)])
    perm = rng.permutation(s.size)
    return s[perm], y[perm]


def _brute_rates(s, y):
    """(threshold, FAR, TAR) for accepting ``score >= t`` at every distinct score and +inf."""
    out = []
    for t in list(np.unique(s)) + [np.inf]:
        acc = s >= t
        out.append((t, np.sum(acc & ~y) / np.sum(~y), np.sum(acc & y) / np.sum(y)))
    return out


def test_separable_scores_give_perfect_results():
    s, y = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3] * 10), np.array([1, 1, 1, 0, 0, 0] * 10)
    folds = np.repeat(np.arange(10), 6)
    rep = evaluate_scores(s, y, folds)
    assert rep.kfold.mean == 1.0 and rep.kfold.std == 0.0
    assert all(0.3 < t < 0.7 for t in rep.kfold.thresholds)
    assert rep.auc == 1.0 and rep.eer == 0.0 and rep.best_accuracy == 1.0
    assert [p.tar for p in rep.operating_points] == [1.0, 1.0, 1.0]
    assert rep.best_threshold == pytest.approx(0.5)


def test_best_threshold_hand_case_with_ties():
    # sorted: .1 n, .6 p, .7 n, .9 p. Candidates and correct counts:
    # .1 → 2, .35 → 3, .65 → 2, .8 → 3, >.9 → 2. Tied maxima .35 and .8: the middle one (index 1) is .8.
    thr, acc = best_threshold([0.9, 0.6, 0.7, 0.1], [1, 1, 0, 0])
    assert thr == pytest.approx(0.8) and acc == 0.75


def test_best_threshold_unique_maximum():
    # .1 n, .2 n, .3 p, .4 p: only .25 separates perfectly
    assert best_threshold([0.4, 0.1, 0.3, 0.2], [1, 0, 1, 0]) == (pytest.approx(0.25), 1.0)
    # all positives above nothing: reject-all candidate is just above the max
    thr, acc = best_threshold([0.5, 0.6], [0, 0])
    assert acc == 1.0 and thr > 0.6


@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 2), (2, 1)])
def test_best_threshold_matches_brute_force(seed, decimals):
    s, y = _random_scores(seed, 60, 90, decimals)
    thr, acc = best_threshold(s, y)
    # brute force: every threshold on a fine grid plus every score and midpoint
    u = np.unique(s)
    grid = np.concatenate([np.linspace(s.min() - 1, s.max() + 1, 2001), u, (u[1:] + u[:-1]) / 2, [u[-1] + 1e-9]])
    best = max(np.mean((s >= t) == y) for t in grid)
    assert acc == pytest.approx(best)
    assert accuracy_at(s, y, thr) == pytest.approx(acc)


def test_kfold_hand_case():
    # fold 0: pos .9 .8, neg .3 .85; fold 1: pos .7 .6, neg .2 .65 (see comments for thresholds)
    s = [0.9, 0.8, 0.3, 0.85, 0.7, 0.6, 0.2, 0.65]
    y = [1, 1, 0, 0, 1, 1, 0, 0]
    f = [0, 0, 0, 0, 1, 1, 1, 1]
    kf = kfold_accuracy(s, y, f)
    # fold 0 uses fold 1's best: ties at .4 and .675 → .675; on fold 0: .85 neg accepted → 3/4
    # fold 1 uses fold 0's best: ties at .55 and .875 → .875; on fold 1: both positives rejected → 2/4
    assert kf.thresholds == [pytest.approx(0.675), pytest.approx(0.875)]
    assert kf.accuracies == [0.75, 0.5]
    assert kf.mean == 0.625 and kf.std == 0.125


def test_kfold_thresholds_are_optimal_on_the_other_folds():
    s, y = _random_scores(3)
    folds = np.arange(s.size) % 10
    kf = kfold_accuracy(s, y, folds)
    for fid, thr, acc in zip(kf.folds, kf.thresholds, kf.accuracies):
        tr, te = folds != fid, folds == fid
        best_train = max(np.mean((s[tr] >= t) == y[tr]) for t in np.unique(s[tr]))
        assert np.mean((s[tr] >= thr) == y[tr]) == pytest.approx(best_train)
        assert acc == pytest.approx(np.mean((s[te] >= thr) == y[te]))


def test_eer_exact_crossing():
    # t = .7 accepts .9 .8 (pos) and .7 (neg): FAR = 1/3 = FRR
    roc = roc_curve([0.9, 0.8, 0.4, 0.7, 0.3, 0.2], [1, 1, 1, 0, 0, 0])
    eer, thr = equal_error_rate(roc)
    assert eer == pytest.approx(1 / 3) and thr == pytest.approx(0.7)


@pytest.mark.parametrize("seed,decimals", [(4, None), (5, 2)])
def test_eer_within_brute_force_bounds(seed, decimals):
    s, y = _random_scores(seed, decimals=decimals)
    eer, _ = equal_error_rate(roc_curve(s, y))
    rates = _brute_rates(s, y)
    lower = max(min(far, 1 - tar) for _, far, tar in rates)
    upper = min(max(far, 1 - tar) for _, far, tar in rates)
    assert lower - 1e-12 <= eer <= upper + 1e-12
    if decimals is None:
        assert upper - lower < 0.01  # continuous scores pin it down


@pytest.mark.parametrize("seed,decimals", [(6, None), (7, 2), (8, 1)])
def test_tar_at_far_matches_brute_force(seed, decimals):
    s, y = _random_scores(seed, decimals=decimals)
    roc = roc_curve(s, y)
    rates = _brute_rates(s, y)
    for far in (0.1, 0.01, 0.001, 0.0, 0.5):
        pt = tar_at_far(roc, far)
        feasible = [(tar, f, t) for t, f, tar in rates if f <= far + 1e-12]
        best_tar = max(tar for tar, _, _ in feasible)
        assert pt.tar == pytest.approx(best_tar)
        assert pt.far <= far + 1e-12
        if np.isfinite(pt.threshold):  # the reported threshold really gives these rates
            acc = s >= pt.threshold
            assert np.mean(acc[y]) == pytest.approx(pt.tar) and np.mean(acc[~y]) == pytest.approx(pt.far)


@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_equals_mann_whitney_probability(decimals):
    s, y = _random_scores(9, 80, 70, decimals)
    pos, neg = s[y], s[~y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert roc_auc(s, y) == pytest.approx(wins / (pos.size * neg.size))


def test_invalid_inputs():
    with pytest.raises(ValueError, match="differ"):
        kfold_accuracy([0.1, 0.2], [1, 0], [0])
    with pytest.raises(ValueError, match="2 folds"):
        kfold_accuracy([0.1, 0.2], [1, 0], [0, 0])
    with pytest.raises(ValueError, match="both"):
        roc_curve([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        best_threshold([np.nan, 0.2], [1, 0])
    with pytest.raises(ValueError, match="0/1"):
        best_threshold([0.1, 0.2], [2, 0])


def test_rank_k_hand_case():
    ranked = np.array([[3, 1, 2], [1, 2, 3], [2, 3, 1], [1, 3, 2]])
    probes = np.array([3, 2, 1, 2])
    assert rank_k_accuracy(ranked, probes, ks=(1, 2, 3)) == {1: 0.25, 2: 0.5, 3: 1.0}
    with pytest.raises(ValueError, match="rank 4"):
        rank_k_accuracy(ranked, probes, ks=(4,))


@pytest.mark.parametrize("seed,decimals", [(10, None), (11, 2)])
def test_dir_at_far_matches_brute_force(seed, decimals):
    rng = np.random.default_rng(seed)
    ks = rng.normal(0.6, 0.2, 300)
    kc = rng.random(300) < 0.8
    us = rng.normal(0.3, 0.15, 1000)
    if decimals is not None:
        ks, us = np.round(ks, decimals), np.round(us, decimals)
    for far in (0.1, 0.01, 0.001, 0.0):
        pt = dir_at_far(ks, kc, us, far)
        best = 0.0
        for t in list(np.unique(np.concatenate([ks, us]))) + [np.inf]:
            if np.mean(us >= t) <= far + 1e-12:
                best = max(best, np.mean(kc & (ks >= t)))
        assert pt.dir == pytest.approx(best)
        assert pt.far <= far + 1e-12 and pt.far == pytest.approx(np.mean(us >= pt.threshold))
