"""Clustering constraints (:class:`facerec.clustering.Constraints`): must-link groups,
cannot-link pairs, frozen clusters (incremental runs) and low-quality faces.

Oracle: a naive constrained average linkage written here from the definition — repeatedly
merge the most similar pair of clusters (mean cosine over all cross pairs, every pair
compared) that no constraint forbids, while it reaches the threshold — against facerec's
graph-based rounds of reciprocal best pairs; ``itertools.combinations`` for the photo pairs.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from facerec.clustering import (Constraints, average_linkage, cluster_embeddings, knn_graph, same_photo_pairs,
                                split_cannot_links)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _blobs(seed: int, sizes=(12, 9, 7, 5, 3, 2, 1), dim: int = 32,
           noise: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(len(sizes), dim)))
    x = np.concatenate([c + noise * rng.normal(size=(s, dim)) / np.sqrt(dim) for c, s in zip(centres, sizes)])
    return _unit(x), np.repeat(np.arange(len(sizes)), sizes)


def _naive(x: np.ndarray, thr: float, groups=None, cannot=(), frozen=None) -> np.ndarray:
    """Sequential constrained average linkage over all pairs (the definition)."""
    n = len(x)
    clusters = {}
    for i in range(n):
        g = i if groups is None or groups[i] < 0 else n + int(groups[i])
        clusters.setdefault(g, []).append(i)
    clusters = {min(m): m for m in clusters.values()}
    fz = {c: bool(frozen is not None and any(frozen[i] for i in m)) for c, m in clusters.items()}
    cannot = {frozenset(p) for p in map(tuple, np.asarray(cannot).reshape(-1, 2).tolist())}
    sim = x @ x.T
    while True:
        best, pair = -np.inf, None
        for a, b in itertools.combinations(sorted(clusters), 2):
            if fz[a] and fz[b]:
                continue
            if any(frozenset((i, j)) in cannot for i in clusters[a] for j in clusters[b]):
                continue
            s = sim[np.ix_(clusters[a], clusters[b])].mean()
            if s > best:
                best, pair = s, (a, b)
        if pair is None or best < thr:
            break
        a, b = pair
        clusters[a] += clusters.pop(b)
        fz[a] = fz[a] or fz.pop(b)
    labels = np.empty(n, np.int64)
    for c, m in clusters.items():
        labels[m] = c
    return labels


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Same partition (labels up to renaming)."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    pairs = set(zip(ia.ravel().tolist(), ib.ravel().tolist()))
    return len(pairs) == len(set(ia.ravel().tolist())) == len(set(ib.ravel().tolist()))


def _full_graph(x: np.ndarray, thr: float):
    return knn_graph(x, k=len(x) - 1, threshold=thr, exact=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cannot_link_and_groups_match_naive_definition(seed):
    x, truth = _blobs(seed)
    thr = 0.45
    rng = np.random.default_rng(seed + 100)
    # Cannot-links inside true people (as two faces of one photo would be) and across.
    cannot = np.stack([rng.integers(0, 12, 6), rng.integers(12, 28, 6)], 1)
    cannot = np.concatenate([cannot, [[0, 1], [12, 13], [21, 22]]])
    groups = np.full(len(x), -1)
    groups[[2, 3, 30]] = 0  # a user's merge across two people
    groups[[14, 15]] = 1
    c = Constraints(groups=groups, cannot_link=cannot)
    got = average_linkage(_full_graph(x, thr), x, thr, constraints=c)
    want = _naive(x, thr, groups, cannot)
    assert _same(got, want)
    assert all(got[a] != got[b] for a, b in cannot)
    assert got[2] == got[3] == got[30] and got[14] == got[15]
    # Without constraints the oracle and facerec also agree, and some constraint mattered.
    plain = average_linkage(_full_graph(x, thr), x, thr)
    assert _same(plain, _naive(x, thr))
    assert not _same(plain, got)


def test_frozen_clusters_never_merge_and_incremental_equals_full_on_separated_people():
    x, truth = _blobs(7, sizes=(10, 8, 6, 4, 2), noise=0.25)
    thr = 0.45
    full = cluster_embeddings(x, thr)
    assert _same(full, truth)
    # Half the faces first (every other one), then the rest added incrementally.
    first = np.arange(len(x)) % 2 == 0
    old = cluster_embeddings(x[first], thr)
    groups = np.full(len(x), -1)
    groups[first] = old
    inc = cluster_embeddings(x, thr, constraints=Constraints(groups=groups, frozen=first))
    assert _same(inc, full)
    # Two frozen groups of one person stay apart (an earlier run's decision is not undone).
    groups2 = np.full(len(x), -1)
    groups2[[0, 1]] = 0
    groups2[[2, 3]] = 1
    fz = groups2 >= 0
    got = average_linkage(_full_graph(x, thr), x, thr, constraints=Constraints(groups=groups2, frozen=fz))
    assert got[0] != got[2]
    assert _same(got, _naive(x, thr, groups2, frozen=fz))


def test_low_quality_faces_join_but_never_start_or_bridge():
    x, truth = _blobs(3, sizes=(8, 8), noise=0.2)
    thr = 0.5
    # A face halfway between the two people (a blurred face that looks like both) and two
    # near-copies of a third person, all low quality.
    rng = np.random.default_rng(0)
    bridge = _unit((x[:8].mean(0) + x[8:].mean(0))[None])
    other = _unit(rng.normal(size=(1, x.shape[1])))
    pair = _unit(np.concatenate([other, other + 0.01 * rng.normal(size=other.shape)]))
    near = _unit(x[:8].mean(0, keepdims=True) + 0.1 * rng.normal(size=(1, x.shape[1])) / np.sqrt(x.shape[1]))
    allx = np.concatenate([x, bridge, pair, near])
    core = np.r_[np.ones(16, bool), np.zeros(4, bool)]
    got = cluster_embeddings(allx, thr, constraints=Constraints(core=core))
    # The core faces cluster exactly as they do alone (no low-quality face changed them).
    assert _same(got[:16], cluster_embeddings(x, thr))
    assert got[19] == got[0]  # the good-looking low-quality face joins its person
    assert got[17] == -1 and got[18] == -1  # two low-quality faces never start a cluster
    # The bridge joins at most one side; the two people stay apart.
    assert got[0] != got[8]


def test_low_quality_face_respects_cannot_link():
    x, _ = _blobs(4, sizes=(6,), noise=0.1)
    core = np.ones(6, bool)
    core[5] = False
    got = cluster_embeddings(x, 0.5, constraints=Constraints(core=core, cannot_link=np.array([[0, 5]])))
    assert got[5] == -1 and len(set(got[:5].tolist())) == 1


def test_same_photo_pairs_against_combinations():
    photo = np.array([3, 1, 3, -1, 1, 3, 7, -1])
    got = {tuple(sorted(p)) for p in same_photo_pairs(photo).tolist()}
    want = {(i, j) for i, j in itertools.combinations(range(len(photo)), 2) if photo[i] == photo[j] >= 0}
    assert got == want
    assert same_photo_pairs(np.array([0, 1, 2])).shape == (0, 2)


@pytest.mark.parametrize("method", ["chinese_whispers", "components"])
def test_other_methods_take_cannot_links_by_repair(method):
    x, truth = _blobs(5, sizes=(10, 6), noise=0.2)
    cannot = np.array([[0, 1], [2, 3], [10, 11]])
    got = cluster_embeddings(x, 0.4, method=method, constraints=Constraints(cannot_link=cannot))
    assert all(got[a] != got[b] for a, b in cannot)
    with pytest.raises(ValueError, match="average"):
        cluster_embeddings(x, 0.4, method=method, constraints=Constraints(groups=np.zeros(len(x), int)))
    # split_cannot_links leaves clean clusters alone.
    assert np.array_equal(split_cannot_links(truth, x, 0.4, np.array([[0, 10]])), truth)


def test_contradicting_constraints_are_refused():
    x, _ = _blobs(6, sizes=(4,))
    c = Constraints(groups=np.array([0, 0, -1, -1]), cannot_link=np.array([[0, 1]]))
    with pytest.raises(ValueError, match="must-link"):
        cluster_embeddings(x, 0.5, constraints=c)
