"""Clustering metrics against independent references: scikit-learn's pair confusion matrix
for the pairwise scores, the BCubed definition written out face by face (O(N²)) here."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.cluster import pair_confusion_matrix

from facerec.metrics.cluster_metrics import bcubed_scores, cluster_scores, contingency, pairwise_scores, singletons


def _random_labels(seed: int, n: int, n_true: int, n_pred: int, unclustered: float = 0.0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_true, n)
    # A prediction that is partly right: copy the truth, then scramble some faces.
    pred = truth.copy()
    flip = rng.random(n) < 0.3
    pred[flip] = rng.integers(0, n_pred, int(flip.sum()))
    pred[rng.random(n) < unclustered] = -1
    return truth, pred


def _sklearn_pairwise(truth, pred):
    """Precision/recall from sklearn's pair counts (-1 made singletons first, as documented)."""
    (_, fp), (fn, tp) = pair_confusion_matrix(singletons(truth), singletons(pred))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def _brute_bcubed(truth, pred):
    """BCubed from its definition: for each face, compare its cluster and its person item by item."""
    truth, pred = np.asarray(truth).tolist(), np.asarray(pred).tolist()  # plain Python values
    n = len(truth)
    # -1 = a cluster of its own: give each such face a label nothing else has.
    pred = [("solo", i) if p == -1 else p for i, p in enumerate(pred)]
    truth = [("solo", i) if t == -1 else t for i, t in enumerate(truth)]
    ps, rs = [], []
    for i in range(n):
        same_cluster = [j for j in range(n) if pred[j] == pred[i]]
        same_person = [j for j in range(n) if truth[j] == truth[i]]
        correct = sum(1 for j in same_cluster if truth[j] == truth[i])
        ps.append(correct / len(same_cluster))
        rs.append(correct / len(same_person))
    p, r = sum(ps) / n, sum(rs) / n
    return p, r, 2 * p * r / (p + r)


@pytest.mark.parametrize("seed,n,n_true,n_pred,unclustered", [
    (0, 300, 20, 15, 0.0), (1, 400, 60, 80, 0.1), (2, 250, 5, 3, 0.3), (3, 200, 200, 10, 0.0)])
def test_pairwise_matches_sklearn_pair_confusion(seed, n, n_true, n_pred, unclustered):
    truth, pred = _random_labels(seed, n, n_true, n_pred, unclustered)
    p, r, f = pairwise_scores(truth, pred)
    sp, sr = _sklearn_pairwise(truth, pred)
    assert p == pytest.approx(sp, abs=1e-12) and r == pytest.approx(sr, abs=1e-12)
    assert f == pytest.approx(2 * sp * sr / (sp + sr), abs=1e-12)


@pytest.mark.parametrize("seed,n,n_true,n_pred,unclustered", [
    (0, 150, 20, 15, 0.0), (1, 200, 60, 80, 0.1), (2, 120, 5, 3, 0.3)])
def test_bcubed_matches_bruteforce_definition(seed, n, n_true, n_pred, unclustered):
    truth, pred = _random_labels(seed, n, n_true, n_pred, unclustered)
    assert bcubed_scores(truth, pred) == pytest.approx(_brute_bcubed(truth, pred), abs=1e-12)


def test_perfect_and_degenerate_clusterings():
    truth = np.array([0, 0, 0, 1, 1, 2])
    assert cluster_scores(truth, truth + 7).pairwise_f1 == 1.0
    assert cluster_scores(truth, truth + 7).bcubed_f1 == 1.0
    # Everything in one cluster: recall 1, precision = same-person pairs / all pairs = 4 / 15.
    one = np.zeros(6, int)
    p, r, _ = pairwise_scores(truth, one)
    assert (p, r) == (pytest.approx(4 / 15), 1.0)
    # All unclustered: no pairs predicted (precision 1 by convention), recall 0.
    s = cluster_scores(truth, np.full(6, -1))
    assert (s.pairwise_precision, s.pairwise_recall, s.pairwise_f1) == (1.0, 0.0, 0.0)
    assert s.bcubed_precision == 1.0 and s.bcubed_recall == pytest.approx(_brute_bcubed(truth, [-1] * 6)[1])
    assert (s.n_clusters, s.n_unclustered, s.n_true_clusters, s.n_faces) == (6, 6, 3, 6)


def test_unclustered_faces_are_singletons_not_one_cluster():
    truth = np.array([0, 0, 1, 1])
    pred = np.array([-1, -1, 5, 5])
    # Were -1 one cluster, faces 0 and 1 would count as a correct pair.
    assert pairwise_scores(truth, pred)[1] == pytest.approx(0.5)
    assert cluster_scores(truth, pred).n_clusters == 3


def test_string_truth_labels_and_contingency_counts():
    truth = np.array(["ann", "ann", "bob", "bob", "bob", "cy"])
    pred = np.array([0, 0, 0, 1, 1, -1])
    n_ij, a_i, b_j = contingency(truth, pred)
    cells = sorted(zip(n_ij.tolist(), a_i.tolist(), b_j.tolist()))
    assert cells == [(1, 1, 1), (1, 3, 3), (2, 2, 3), (2, 3, 2)]
    assert bcubed_scores(truth, pred) == pytest.approx(_brute_bcubed(truth, pred))
    assert pairwise_scores(truth, pred)[:2] == pytest.approx(_sklearn_pairwise(
        np.unique(truth, return_inverse=True)[1], pred))


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        pairwise_scores(np.zeros(3, int), np.zeros(4, int))
