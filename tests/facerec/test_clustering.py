"""Face clustering against independent references: the kNN graph against brute-force numpy,
HNSW against exact search, components against scipy's and networkx's, Chinese whispers and
components on well-separated synthetic people (Gaussian blobs on the sphere) against the
truth, :func:`match_previous` against a brute-force best assignment."""
from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components as scipy_components
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from facerec.clustering import (KnnGraph, average_linkage, chinese_whispers, cluster_embeddings,
                                connected_components, knn_graph, match_previous, order_labels)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _blobs(seed: int = 0, dim: int = 64, sizes=(120, 60, 40, 25, 10, 5, 3, 2, 2, 1, 1, 1), noise: float = 0.06):
    """Synthetic people: random unit centres (pairwise cosine ≈ 0 ± 0.13 at d=64), faces =
    centre + isotropic noise (cosine to the centre ≈ 0.9), shuffled. Returns (x, truth)."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((len(sizes), dim)))
    truth = np.repeat(np.arange(len(sizes)), sizes)
    x = _unit(centres[truth] + noise * rng.standard_normal((truth.size, dim)))
    order = rng.permutation(truth.size)
    return x[order], truth[order]


def _brute_knn_edges(x: np.ndarray, k: int, threshold: float) -> dict[tuple[int, int], float]:
    """Edges {(i, j): cosine} of the symmetric kNN graph, by sorting full rows in float64."""
    s = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(s, -np.inf)
    edges: dict[tuple[int, int], float] = {}
    for i in range(len(x)):
        ranked = np.argsort(-s[i], kind="stable")
        # The test only holds if the k-th and (k+1)-th neighbours are not float32 ties.
        assert s[i, ranked[k - 1]] - s[i, ranked[k]] > 1e-5
        for j in ranked[:k]:
            if s[i, j] >= threshold:
                edges[(i, int(j))] = edges[(int(j), i)] = s[i, j]
    return edges


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return adjusted_rand_score(a, b) == 1.0 and len(set(a)) == len(set(b))


def test_exact_knn_graph_matches_bruteforce_numpy():
    rng = np.random.default_rng(0)
    x = _unit(rng.standard_normal((400, 24)))
    k, thr = 8, 0.25
    g = knn_graph(x, k=k, threshold=thr, exact=True)
    ref = _brute_knn_edges(x, k, thr)
    got = {(int(r), int(c)): float(w) for r, c, w in zip(g.rows, g.cols, g.weights)}
    assert got.keys() == ref.keys()
    assert np.allclose([got[e] for e in ref], [ref[e] for e in ref], atol=1e-5)
    assert min(got.values()) >= thr  # accepted means score >= threshold
    assert not np.any(g.rows == g.cols)
    # Stored as both directions, sorted by (row, col), no duplicates.
    assert np.all(np.diff(g.rows * g.n + g.cols) > 0) and g.num_edges * 2 == g.rows.size
    # mutual: each end is among the other's k nearest.
    s = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(s, -np.inf)
    topk = np.argsort(-s, axis=1)[:, :k]
    in_list = {(i, int(j)) for i in range(len(x)) for j in topk[i]}
    for r, c, m in zip(g.rows, g.cols, g.mutual):
        assert m == (((int(r), int(c)) in in_list) and ((int(c), int(r)) in in_list))


def test_threshold_is_inclusive():
    # Three unit vectors at known angles: cos(a, b) = 0.5 exactly representable in float32.
    x = np.array([[1, 0], [0.5, np.sqrt(0.75)], [-1, 0]], np.float32)
    cos_ab = float(x[0] @ x[1])
    g = knn_graph(x, k=2, threshold=cos_ab, exact=True)
    assert {(int(r), int(c)) for r, c in zip(g.rows, g.cols)} == {(0, 1), (1, 0)}
    g = knn_graph(x, k=2, threshold=np.nextafter(np.float32(cos_ab), np.float32(2)), exact=True)
    assert g.num_edges == 0


@pytest.mark.parametrize("approx", ["ivf", "hnsw"])
def test_approximate_graph_recall_against_exact(approx):
    """Random unit vectors are the approximate indexes' hard case (no structure); even there
    the approximate graph must find most exact edges, asserted with a margin; on clustered
    data (faces) nearly all edges above a threshold. Measured (AVX2):
    IVF 0.92 and HNSW 0.9999 of the exact edges on the random points, both 1.0 on blobs."""
    rng = np.random.default_rng(1)
    x = _unit(rng.standard_normal((3000, 32)))
    k = 10
    exact = knn_graph(x, k=k, threshold=-1.0, exact=True)
    found = knn_graph(x, k=k, threshold=-1.0, exact=False, approx=approx)
    e_exact = set(zip(exact.rows.tolist(), exact.cols.tolist()))
    e_approx = set(zip(found.rows.tolist(), found.cols.tolist()))
    recall = len(e_exact & e_approx) / len(e_exact)
    assert recall >= {"ivf": 0.85, "hnsw": 0.97}[approx], recall
    # On clustered data (faces), neighbours above a threshold are easy to find.
    xb, _ = _blobs(2)
    ex = knn_graph(xb, k=k, threshold=0.5, exact=True)
    ap = knn_graph(xb, k=k, threshold=0.5, exact=False, approx=approx)
    both = set(zip(ex.rows.tolist(), ex.cols.tolist())) & set(zip(ap.rows.tolist(), ap.cols.tolist()))
    assert len(both) >= 0.98 * ex.rows.size


def test_small_inputs():
    assert knn_graph(np.zeros((0, 8), np.float32), k=5).num_edges == 0
    assert knn_graph(np.ones((1, 8), np.float32), k=5).num_edges == 0
    two = knn_graph(np.ones((2, 8), np.float32), k=5, threshold=0.9)
    assert two.num_edges == 1
    assert list(cluster_embeddings(np.ones((1, 8), np.float32), 0.5)) == [0]
    with pytest.raises(ValueError):
        knn_graph(np.ones(8, np.float32), k=3)


@pytest.mark.parametrize("method", ["chinese_whispers", "components", "average"])
def test_blobs_recovered_exactly(method):
    x, truth = _blobs(0)
    labels = cluster_embeddings(x, threshold=0.5, method=method, k=10)
    assert _same_partition(labels, truth)
    # Renumbered by size: cluster 0 is the biggest person (120 faces), ids contiguous.
    sizes = np.bincount(labels)
    assert sizes[0] == 120 and np.all(np.diff(sizes) <= 0)


def test_chinese_whispers_on_exact_and_approximate_graphs_and_seeds():
    x, truth = _blobs(3, sizes=(80, 50, 50, 30, 20, 8, 4, 2, 1))
    for exact, approx in ((True, "ivf"), (False, "ivf"), (False, "hnsw")):
        g = knn_graph(x, k=12, threshold=0.5, exact=exact, approx=approx)
        for seed in (0, 1, 2):
            assert _same_partition(chinese_whispers(g, seed=seed), truth)
    g = knn_graph(x, k=12, threshold=0.5)
    assert np.array_equal(chinese_whispers(g, seed=5), chinese_whispers(g, seed=5))  # deterministic


def test_chinese_whispers_cuts_a_weak_bridge_that_components_follow():
    """Two 6-cliques (edge weight 0.9) joined by one 0.4 edge: components merge them, Chinese
    whispers keeps two clusters (each node's own clique outweighs the bridge); a higher edge
    threshold also separates them for components."""
    pairs = [(i, j, 0.9) for base in (0, 6) for i, j in itertools.combinations(range(base, base + 6), 2)]
    pairs.append((5, 6, 0.4))
    rows, cols, w = zip(*[(i, j, s) for i, j, s in pairs] + [(j, i, s) for i, j, s in pairs])
    a = sp.csr_matrix((np.array(w, np.float32), (rows, cols)), shape=(12, 12))
    truth = np.repeat([0, 1], 6)
    assert len(set(connected_components(a))) == 1
    assert _same_partition(connected_components(a, min_weight=0.5), truth)
    for seed in range(5):
        assert _same_partition(chinese_whispers(a, seed=seed), truth)
    # Unweighted, the bridge still loses (one edge against five).
    assert _same_partition(chinese_whispers(a, weighted=False), truth)


def test_chinese_whispers_isolated_nodes_and_bad_weights():
    a = sp.csr_matrix((3, 3), dtype=np.float32)
    assert list(chinese_whispers(a)) == [0, 1, 2]
    neg = sp.csr_matrix(np.array([[0, -0.5], [-0.5, 0]], np.float32))
    with pytest.raises(ValueError):
        chinese_whispers(neg)


def test_chinese_whispers_matches_sequential_reference_on_easy_graph():
    """Against a plain sequential Chinese whispers written here (one node at a time, as in
    Biemann's paper): on blobs both find the same partition."""
    x, truth = _blobs(4, dim=32, sizes=(30, 20, 10, 5, 2, 1))
    g = knn_graph(x, k=8, threshold=0.5)
    nbrs: dict[int, list[tuple[int, float]]] = {i: [] for i in range(g.n)}
    for r, c, w in zip(g.rows.tolist(), g.cols.tolist(), g.weights.tolist()):
        nbrs[r].append((c, w))
    labels = list(range(g.n))
    rng = np.random.default_rng(0)
    for _ in range(20):
        for i in rng.permutation(g.n):
            score: dict[int, float] = {}
            for j, w in nbrs[i]:
                score[labels[j]] = score.get(labels[j], 0.0) + w
            if score:
                labels[i] = max(score, key=lambda lab: (score[lab], -lab))
    assert _same_partition(np.array(labels), truth)
    assert _same_partition(chinese_whispers(g), truth)


@pytest.mark.parametrize("mutual,min_weight", [(False, None), (True, None), (False, 0.6), (True, 0.55)])
def test_components_match_scipy_and_networkx(mutual, min_weight):
    rng = np.random.default_rng(5)
    x = _unit(rng.standard_normal((300, 16)))  # random points: long chains of neighbours
    g = knn_graph(x, k=4, threshold=0.5, exact=True)
    ours = connected_components(g, mutual=mutual, min_weight=min_weight)
    keep = np.ones(g.rows.size, bool)
    if mutual:
        keep &= g.mutual
    if min_weight is not None:
        keep &= g.weights >= min_weight
    dense = np.zeros((g.n, g.n))
    dense[g.rows[keep], g.cols[keep]] = 1
    n_ref, ref = scipy_components(dense, directed=False)
    assert _same_partition(ours, ref) and len(set(ours)) == n_ref
    graph = nx.Graph()
    graph.add_nodes_from(range(g.n))
    graph.add_edges_from(zip(g.rows[keep].tolist(), g.cols[keep].tolist()))
    nx_labels = np.empty(g.n, int)
    for c, members in enumerate(nx.connected_components(graph)):
        nx_labels[list(members)] = c
    assert _same_partition(ours, nx_labels)
    assert 1 < n_ref < g.n  # the case is not trivial


def test_components_mutual_needs_knn_graph():
    with pytest.raises(ValueError):
        connected_components(sp.csr_matrix((2, 2)), mutual=True)


def test_order_labels_by_size_ties_and_min_size():
    raw = np.array([7, 3, 3, 9, 9, 9, 5, 7, -1, 4])
    #   sizes: 9→3, 3→2 (first at 1), 7→2 (first at 0), 5→1 (first at 6), 4→1 (first at 9)
    assert order_labels(raw).tolist() == [1, 2, 2, 0, 0, 0, 3, 1, -1, 4]
    assert order_labels(raw, min_size=2).tolist() == [1, 2, 2, 0, 0, 0, -1, 1, -1, -1]
    assert order_labels(np.full(3, -1)).tolist() == [-1, -1, -1]


def test_cluster_embeddings_min_size_and_bad_method():
    x, truth = _blobs(0)
    labels = cluster_embeddings(x, threshold=0.5, min_size=3)
    small = np.isin(truth, np.flatnonzero(np.bincount(truth) < 3))
    assert np.all(labels[small] == -1) and np.all(labels[~small] >= 0)
    assert _same_partition(labels[~small], truth[~small])
    with pytest.raises(ValueError):
        cluster_embeddings(x, 0.5, method="kmeans")  # type: ignore[arg-type]


def _brute_best_overlap(previous, labels):
    """Best one-to-one matching of new to old clusters by total overlap, by trying them all."""
    new_ids = sorted(set(labels[: len(previous)][np.asarray(previous) >= 0]) - {-1})
    old_ids = sorted(set(previous) - {-1})
    known = labels[: len(previous)]
    best = -1
    for perm in itertools.permutations(old_ids + [None] * len(new_ids), len(new_ids)):
        total = sum(int(np.sum((known == n) & (previous == o))) for n, o in zip(new_ids, perm) if o is not None)
        best = max(best, total)
    return best


def test_match_previous_keeps_ids_of_the_same_people():
    x, truth = _blobs(6, sizes=(40, 30, 20, 10, 5))
    # Before: 60 faces of people 0-3; then the folder grew by 45 faces (more photos of
    # them, and person 4), appended after the known ones.
    first = np.flatnonzero(truth != 4)[:60]
    order = np.r_[first, np.setdiff1d(np.arange(truth.size), first)]
    x, truth = x[order], truth[order]
    old_x, new_x = x[:60], x
    old = cluster_embeddings(old_x, 0.5)
    old = np.where(old >= 0, old + 100, old)  # arbitrary old ids
    new = cluster_embeddings(new_x, 0.5, seed=9)
    kept = match_previous(old, new)
    # Every face known before keeps its old id; the same person's new faces share it.
    assert np.array_equal(kept[:60], old)
    assert _same_partition(kept, truth)
    # People not seen before get fresh ids above every old id.
    fresh = set(kept[60:]) - set(old)
    assert fresh and min(fresh) > max(old)


def test_match_previous_split_merge_and_index():
    previous = np.array([0, 0, 0, 0, 1, 1, 2, -1])
    # Old cluster 0 split into new 5 (3 faces) and 6 (1 face + new ones); old 1 and 2 merged into 7.
    labels = np.array([5, 5, 5, 6, 7, 7, 7, 8, 6, 6, 9, -1])
    out = match_previous(previous, labels)
    assert out[:3].tolist() == [0, 0, 0]  # the bigger part keeps the id
    assert out[4] == 1  # merge: the old cluster with more shared faces wins
    fresh = {int(out[i]) for i in (3, 7, 10)}
    assert len(fresh) == 3 and min(fresh) == 3  # fresh ids above max old id 2
    assert out[11] == -1
    total = sum(int(np.sum((out[:8] == o) & (previous == o))) for o in set(previous) - {-1})
    assert total == _brute_best_overlap(previous, labels)
    # The same faces at other positions (index = where previous faces sit now).
    perm = np.random.default_rng(0).permutation(labels.size)
    moved = np.empty_like(labels)
    moved[perm] = labels
    out2 = match_previous(previous, moved, index=perm[: previous.size])
    assert np.array_equal(out2[perm], out)


def test_match_previous_hungarian_beats_greedy():
    """Greedy by largest overlap would give old 0 to new A (3 shared) and leave new B with
    nothing; the best assignment gives old 0 to B and old 1 to A (2 + 2 = 4 > 3)."""
    previous = np.array([0, 0, 0, 0, 0, 1, 1])
    labels = np.array([10, 10, 10, 11, 11, 10, 10])  # A = 10, B = 11
    out = match_previous(previous, labels)
    assert _brute_best_overlap(previous, labels) == 4
    assert out.tolist() == [1, 1, 1, 0, 0, 1, 1]


def test_knn_graph_dataclass_to_csr_symmetric():
    x, _ = _blobs(7, sizes=(10, 10))
    g = knn_graph(x, k=5, threshold=0.3)
    assert isinstance(g, KnnGraph)
    a = g.to_csr()
    assert (abs(a - a.T) > 0).nnz == 0 and a.diagonal().sum() == 0


def _sklearn_average(x: np.ndarray, threshold: float) -> np.ndarray:
    """scikit-learn's exact average linkage on cosine distance, cut at 1 - threshold."""
    return AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                   distance_threshold=1 - threshold).fit_predict(x.astype(np.float64))


@pytest.mark.parametrize("seed,dim,threshold", [(0, 8, 0.3), (1, 16, 0.2), (2, 32, 0.1)])
def test_average_linkage_on_full_graph_equals_sklearn(seed, dim, threshold):
    """With every pair a candidate (k = N - 1) the graph version is exact average linkage:
    random points (no clear clusters: many merges at many levels, the hard case for merge order)."""
    rng = np.random.default_rng(seed)
    x = _unit(rng.standard_normal((250, dim)))
    g = knn_graph(x, k=len(x) - 1, threshold=threshold, exact=True)
    ours = average_linkage(g, x, threshold)
    ref = _sklearn_average(x, threshold)
    assert 5 < len(set(ref)) < len(x) - 5  # non-trivial
    assert _same_partition(ours, ref)


def test_average_linkage_on_knn_graph_matches_sklearn_on_people():
    """Overlapping synthetic people (noise large enough that single links join different
    people) through the default kNN graph: same partition as exact average linkage, while
    plain components merge people."""
    x, truth = _blobs(8, dim=32, sizes=(60, 40, 30, 20, 10, 5, 3, 2, 1, 1), noise=0.2)
    thr = 0.35
    ours = cluster_embeddings(x, thr, method="average")
    assert _same_partition(ours, _sklearn_average(x, thr))
    components = cluster_embeddings(x, thr, method="components")
    assert adjusted_rand_score(truth, ours) > adjusted_rand_score(truth, components)


def test_average_linkage_needs_matching_graph():
    x, _ = _blobs(0)
    with pytest.raises(ValueError):
        average_linkage(knn_graph(x[:10], k=3), x, 0.5)
