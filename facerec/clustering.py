"""Face clustering: group unlabelled face embeddings into people (arrays in, labels out).

Pipeline: a k-nearest-neighbour similarity graph over the L2-normalised embeddings (FAISS
inner product = cosine; exact up to :data:`EXACT_MAX` faces, IVF or HNSW beyond), keeping
only the edges a verification would accept (``score >= threshold``, the project's one
comparison rule), then one of three clusterings:

* :func:`average_linkage` — the default: clusters merge while the *mean* cosine over all
  their cross pairs is ``>= threshold`` (exact cluster means, candidate pairs from the
  graph). One stray edge between two people cannot merge them, so it tolerates a threshold
  at which single links chain strangers together.
* :func:`chinese_whispers` — weighted label propagation (Biemann 2006): each face takes the
  label with the largest summed edge weight among its neighbours.
* :func:`connected_components` — every chain of accepted edges joins one cluster; optional
  pruning (mutual neighbours, a higher edge threshold) keeps chains from merging people.

:func:`cluster_embeddings` runs both steps and numbers clusters by size (0 = biggest; faces in
clusters below ``min_size`` get ``-1``, "unclustered"). :func:`match_previous` carries cluster
ids over from an earlier run on a folder that has since grown.

The threshold matters more than the method: comparing N faces with each other needs a
threshold with a small false-accept rate *per comparison* (a model's open-set search
threshold, not its 1:1 verification threshold, which lets a few % of stranger pairs through).
The default method, ``k`` and :data:`EXACT_MAX` were chosen by ``python -m benchmarks.cluster_lfw``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Union

import faiss
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components as _csgraph_components

from facerec.similarity import l2_normalize

log = logging.getLogger(__name__)

#: Up to this many faces the kNN graph is exact (``IndexFlatIP``, all N² inner products);
#: beyond it approximate (:data:`APPROX_INDEX`). Measured, CPU seconds on one AVX2 core, 128-d
#: SFace embeddings of LFW (and rotated copies), k=20: exact 0.9 s at 13k, 2.0 s at 20k, 4.5 s
#: at 30k (N²); IVF 0.5, 1.0 and 1.75 s, missing ~0.05 % of the edges. Exact up to 20k keeps
#: LFW-sized folders free of any recall loss for about a second more.
EXACT_MAX = 20_000
#: Neighbours per face in the graph (the default method's choice; :data:`METHOD_K` per method).
#: For average linkage the graph only proposes which clusters to compare; on LFW (SFace, every
#: threshold from 0.3 to 0.5) k=10 scored as well as or better than k=20 and 40 (which
#: reproduce exact average linkage): a cluster merges only with clusters among its faces'
#: nearest neighbours, which keeps a few far-apart merges out of the big clusters.
DEFAULT_K = 10
#: Chinese whispers needs more neighbours: with 10, big clusters split (LFW pairwise recall
#: 0.90 against 0.97 at k=20).
METHOD_K = {"average": DEFAULT_K, "chinese_whispers": 20, "components": DEFAULT_K}
#: The approximate index beyond EXACT_MAX: "ivf" (inverted lists over k-means cells, the
#: default: 40k faces in 4 s for 99.9 % of the exact edges, against 18 s for HNSW32 at the
#: same recall; 100k in 8 CPU s) or "hnsw".
APPROX_INDEX = "ivf"
#: IVF: lists probed per query (of ≈ 4·√N lists); faces of one person share few cells.
IVF_NPROBE = 16
#: HNSW graph degree and beam widths (faiss's efSearch=16 is too narrow for recall@20).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 64
#: Queries per FAISS call. faiss-cpu 1.15 uses its slow sequential kernel for exact search
#: while n_queries × d < distance_compute_blas_threshold (128 000 by default), so queries go
#: in large batches (BLAS GEMM); the batch also bounds the (batch, k) result arrays.
QUERY_BATCH = 8192
#: Chinese whispers: nodes are updated in this many random groups per pass (all nodes of a
#: group at once, vectorised). One group would be fully synchronous label propagation, which
#: can oscillate (two neighbours swapping labels forever); many small groups approach the
#: sequential algorithm. 16 converged like the sequential version on every graph tried.
CW_GROUPS = 16
#: Average linkage recomputes cluster-pair similarities this many pairs at a time (bounds the
#: (chunk, D) float64 temporaries to 8 MB at D=128).
_SIM_CHUNK = 8192

Method = Literal["chinese_whispers", "components", "average"]


@dataclass(frozen=True)
class KnnGraph:
    """An undirected similarity graph stored as both directed edges (``rows[e] → cols[e]``),
    sorted by (row, col), without self loops or duplicates.

    ``weights`` (E,) float32: the cosine of each edge; ``mutual`` (E,) bool: each end is among
    the other's ``k`` nearest neighbours (found from both sides).
    """

    n: int
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    mutual: np.ndarray

    @property
    def num_edges(self) -> int:
        """Undirected edges (each is stored twice)."""
        return int(self.rows.size // 2)

    def to_csr(self, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """(n, n) symmetric sparse matrix of the weights (only edges where ``mask``, if given)."""
        r, c, w = self.rows, self.cols, self.weights
        if mask is not None:
            r, c, w = r[mask], c[mask], w[mask]
        return sp.csr_matrix((w, (r, c)), shape=(self.n, self.n))


GraphLike = Union[KnnGraph, sp.spmatrix, sp.sparray]


def knn_graph(embeddings: np.ndarray, k: int = DEFAULT_K, threshold: float = 0.0,
              exact: bool | None = None, *, approx: Literal["ivf", "hnsw"] = APPROX_INDEX,
              batch_size: int = QUERY_BATCH, query: np.ndarray | None = None) -> KnnGraph:
    """k-nearest-neighbour cosine graph, keeping edges with ``cosine >= threshold``.

    ``embeddings`` (N, D): one face per row (normalised here; rows should already be unit).
    ``exact``: True = ``IndexFlatIP`` (every inner product), False = the ``approx`` index (IVF
    or HNSW: a few true neighbours can be missed), None = exact while ``N <= EXACT_MAX``. An
    edge i–j is kept when j is among i's k neighbours or i among j's (union): the graph is
    symmetric. Deterministic for a given input and FAISS thread count. ``query`` (N,) bool:
    search the neighbours of these faces only (every face is still a possible neighbour): an
    incremental run asks only for its new faces' neighbours, O(new · N) instead of O(N²).
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    x = np.ascontiguousarray(_unit_rows(embeddings))
    n, d = x.shape
    k = min(k, n - 1)
    if k < 1:  # 0 or 1 face: no edges
        empty = np.zeros(0, np.int64)
        return KnnGraph(n, empty, empty.copy(), np.zeros(0, np.float32), np.zeros(0, bool))
    use_exact = n <= EXACT_MAX if exact is None else bool(exact)
    index = faiss.IndexFlatIP(d) if use_exact else _approx_index(x, k, approx)
    index.add(x)
    # k + 1: each face normally finds itself first; it is dropped below (by id, not by rank,
    # because exact duplicates can come back in either order).
    rows = np.arange(n, dtype=np.int64) if query is None else np.flatnonzero(np.asarray(query, bool))
    scores = np.empty((rows.size, k + 1), np.float32)
    ids = np.empty((rows.size, k + 1), np.int64)
    if use_exact:  # enough queries per call for BLAS at any d (the setting is only read)
        batch_size = max(batch_size, int(faiss.cvar.distance_compute_blas_threshold) // d + 1)
    for start in range(0, rows.size, batch_size):
        stop = start + batch_size
        scores[start:stop], ids[start:stop] = index.search(x[rows[start:stop]], k + 1)
    log.debug("knn_graph: %d faces (%d queried), d=%d, k=%d, %s", n, rows.size, d, k,
              "exact" if use_exact else approx)
    return _graph_from_neighbours(n, ids, scores, threshold, rows)


def _approx_index(x: np.ndarray, k: int, kind: str) -> faiss.Index:
    """An empty approximate inner-product index for ``x`` (IVF: already trained)."""
    n, d = x.shape
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = max(HNSW_EF_SEARCH, k + 1)
        return index
    if kind != "ivf":
        raise ValueError(f"approx must be 'ivf' or 'hnsw', got {kind!r}")
    # ≈ 4·√N lists (a power of two), at least 39 training points per list (FAISS's minimum).
    nlist = int(max(1, min(2 ** round(np.log2(4 * np.sqrt(n))), 2 ** int(np.log2(max(n // 39, 1))))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    # k-means on a seeded sample of 64 points per list: enough for cells, a fraction of the time.
    sample = np.sort(np.random.default_rng(0).permutation(n)[:min(n, 64 * nlist)])
    index.train(x[sample])
    index.nprobe = min(IVF_NPROBE, nlist)
    return index


def _graph_from_neighbours(n: int, ids: np.ndarray, scores: np.ndarray, threshold: float,
                           rows: np.ndarray | None = None) -> KnnGraph:
    """Symmetric edge list from (Q, k) neighbour ids and scores of the faces ``rows`` (default:
    all N, Q = N; FAISS's ``-1`` = no result)."""
    rows = np.arange(n, dtype=np.int64) if rows is None else rows
    src = np.repeat(rows, ids.shape[1])
    dst, w = ids.ravel(), scores.ravel()
    keep = (dst >= 0) & (dst != src) & (w >= np.float32(threshold))
    src, dst, w = src[keep], dst[keep], w[keep]
    # One key per undirected pair; a pair found from both sides appears twice (→ mutual).
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    key = lo * n + hi
    uniq, first, count = np.unique(key, return_index=True, return_counts=True)
    lo, hi, w, mutual = uniq // n, uniq % n, w[first], count > 1
    rows, cols = np.concatenate([lo, hi]), np.concatenate([hi, lo])
    order = np.lexsort((cols, rows))
    return KnnGraph(n, rows[order], cols[order], np.concatenate([w, w])[order].astype(np.float32),
                    np.concatenate([mutual, mutual])[order])


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings contain NaN or inf")
    return l2_normalize(x)


def _csr(graph: GraphLike, n: int | None) -> sp.csr_matrix:
    """The graph as an (n, n) CSR matrix with sorted, summed entries and no self loops."""
    a = graph.to_csr() if isinstance(graph, KnnGraph) else sp.csr_matrix(graph)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"graph matrix must be square, got {a.shape}")
    if n is not None and n != a.shape[0]:
        raise ValueError(f"n={n} but the graph has {a.shape[0]} nodes")
    c = a.tocoo()
    off = (c.row != c.col) & (c.data != 0)
    # COO → CSR sums duplicate entries and sorts each row's columns.
    return sp.csr_matrix((c.data[off], (c.row[off], c.col[off])), shape=a.shape)


def chinese_whispers(graph: GraphLike, n: int | None = None, *, iterations: int = 30, seed: int = 0,
                     weighted: bool = True, groups: int = CW_GROUPS) -> np.ndarray:
    """Chinese whispers clustering of a weighted undirected graph → (N,) int labels.

    Every node starts in its own cluster; in each pass the nodes, in a seeded random order
    split into ``groups`` groups, take the label with the largest summed edge weight among
    their neighbours (ties: keep the current label if it is among the best, else the smallest).
    Stops after ``iterations`` passes or the first pass that changes nothing. Isolated nodes
    keep their own label. Labels are node ids of cluster members, not renumbered (see
    :func:`order_labels`). ``weighted=False`` counts every edge as 1 (as dlib's face
    clustering does). Edge weights must be positive (cosines at a threshold ≥ 0 are).
    """
    a = _csr(graph, n)
    if a.nnz and a.data.min() <= 0:
        raise ValueError("chinese_whispers needs positive edge weights (use a threshold > 0)")
    if not weighted:
        a.data[:] = 1.0
    n_nodes = a.shape[0]
    labels = np.arange(n_nodes, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for it in range(iterations):
        order = rng.permutation(n_nodes)
        p = a[order]  # rows in this pass's order: each group is a contiguous block of rows
        bounds = np.linspace(0, n_nodes, min(groups, max(n_nodes, 1)) + 1).astype(np.int64)
        changed = 0
        for g0, g1 in zip(bounds[:-1], bounds[1:]):
            nodes = order[g0:g1]
            e0, e1 = p.indptr[g0], p.indptr[g1]
            if e0 == e1:
                continue
            # (group size, N) matrix: row = node of the group, column = a neighbour's label,
            # value = summed weight of the edges to that label (duplicates summed by scipy).
            votes = sp.csr_matrix((p.data[e0:e1], labels[p.indices[e0:e1]], p.indptr[g0:g1 + 1] - e0),
                                  shape=(g1 - g0, n_nodes))
            votes.sum_duplicates()  # also sorts each row's labels ascending
            new = _best_labels(votes, labels[nodes])
            changed += int(np.count_nonzero(new != labels[nodes]))
            labels[nodes] = new
        log.debug("chinese_whispers pass %d: %d labels changed", it + 1, changed)
        if changed == 0:
            break
    return labels


def _best_labels(votes: sp.csr_matrix, current: np.ndarray) -> np.ndarray:
    """Per row of ``votes`` (sorted, summed), the column with the largest value; ties keep
    ``current`` if it is among them, else the smallest column; empty rows keep ``current``."""
    counts = np.diff(votes.indptr)
    nonempty = counts > 0
    row_of = np.repeat(np.arange(votes.shape[0]), counts)
    best = np.full(votes.shape[0], -np.inf)
    best[nonempty] = np.maximum.reduceat(votes.data, votes.indptr[:-1][nonempty])
    winner = votes.data == best[row_of]
    out = current.copy()
    # First winner per row (columns are sorted, so the smallest label).
    win = np.flatnonzero(winner)
    rows_w = row_of[win]
    first = np.r_[True, rows_w[1:] != rows_w[:-1]]
    out[rows_w[first]] = votes.indices[win[first]]
    # Rows where the current label ties for best keep it (damps label flip-flopping).
    cur_win = np.flatnonzero(winner & (votes.indices == current[row_of]))
    out[row_of[cur_win]] = current[row_of[cur_win]]
    return out


def connected_components(graph: GraphLike, n: int | None = None, *, min_weight: float | None = None,
                         mutual: bool = False) -> np.ndarray:
    """Connected components of the graph after pruning → (N,) int labels.

    ``min_weight``: drop edges with weight below it (a stricter threshold than the graph's);
    ``mutual``: keep only mutual-neighbour edges (needs a :class:`KnnGraph`).
    """
    if isinstance(graph, KnnGraph):
        keep = np.ones(graph.rows.size, bool)
        if mutual:
            keep &= graph.mutual
        if min_weight is not None:
            keep &= graph.weights >= np.float32(min_weight)
        a = graph.to_csr(keep)
    else:
        if mutual:
            raise ValueError("mutual=True needs a KnnGraph (a plain matrix has no neighbour lists)")
        a = _csr(graph, n)
        if min_weight is not None:
            a.data[a.data < min_weight] = 0
            a.eliminate_zeros()
    if n is not None and n != a.shape[0]:
        raise ValueError(f"n={n} but the graph has {a.shape[0]} nodes")
    return _csgraph_components(a, directed=False)[1].astype(np.int64)


@dataclass(frozen=True)
class Constraints:
    """What a clustering must respect besides the threshold; every field optional, N = faces.

    * ``groups`` (N,) int: faces with the same id ``>= 0`` start in one cluster and stay in it
      (must-link: a user's merge or name, an earlier run's cluster); ``-1`` = free.
    * ``cannot_link`` (C, 2) int: face pairs never put in one cluster (two faces of one photo,
      a user's "not this person"). A pair inside one group is a ValueError.
    * ``frozen`` (N,) bool: two clusters that each hold a frozen face never merge (an earlier
      run's people: new faces may join them; they are not merged with each other again).
    * ``core`` (N,) bool: ``False`` = a low-quality face: it may join a cluster (the one with
      the highest mean cosine, if ``>= threshold``), but never starts one or links two; one
      that joins none is unclustered (``-1``). Faces in a group always count as core.
    """

    groups: np.ndarray | None = None
    cannot_link: np.ndarray | None = None
    frozen: np.ndarray | None = None
    core: np.ndarray | None = None


def same_photo_pairs(photo: np.ndarray) -> np.ndarray:
    """(C, 2) int64 cannot-link pairs: every two faces with the same ``photo`` id (N,)
    (``-1`` = no photo). A photo shows each person once, so its faces are different people."""
    photo = np.asarray(photo, np.int64)
    order = np.argsort(photo, kind="stable")
    p = photo[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    ends = np.r_[starts[1:], p.size]
    out = []
    for s0, e0 in zip(starts, ends):
        if e0 - s0 > 1 and p[s0] >= 0:
            members = order[s0:e0]
            i, j = np.triu_indices(members.size, 1)
            out.append(np.stack([members[i], members[j]], 1))
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, 2), np.int64)


def _initial_clusters(n: int, c: Constraints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(init, core, frozen): each face's starting cluster (the smallest face index of its group,
    else itself), (N,) core mask, and frozen per cluster id (N,)."""
    init = np.arange(n, dtype=np.int64)
    core = np.ones(n, bool) if c.core is None else np.asarray(c.core, bool).copy()
    if c.groups is not None:
        g = np.asarray(c.groups, np.int64)
        if g.shape != (n,):
            raise ValueError(f"groups must have shape ({n},), got {g.shape}")
        grouped = np.flatnonzero(g >= 0)
        if grouped.size:
            uniq, inv = np.unique(g[grouped], return_inverse=True)
            rep = np.full(uniq.size, n, np.int64)
            np.minimum.at(rep, inv.ravel(), grouped)
            init[grouped] = rep[inv.ravel()]
            core[grouped] = True  # a user's (or an earlier run's) group is never left out
    if core.shape != (n,):
        raise ValueError(f"core must have shape ({n},), got {core.shape}")
    frozen = np.zeros(n, bool)
    if c.frozen is not None:
        fz = np.asarray(c.frozen, bool)
        if fz.shape != (n,):
            raise ValueError(f"frozen must have shape ({n},), got {fz.shape}")
        frozen[init[fz]] = True
    return init, core, frozen


def _conflicts(pairs: np.ndarray | None, init: np.ndarray) -> dict[int, set[int]]:
    """Cluster id → the cluster ids it must never merge with (symmetric)."""
    out: dict[int, set[int]] = {}
    if pairs is None:
        return out
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= init.size):
        raise ValueError("cannot_link pairs must index faces")
    a, b = init[pairs[:, 0]], init[pairs[:, 1]]
    if np.any(a == b):
        i = int(np.flatnonzero(a == b)[0])
        raise ValueError(f"faces {pairs[i, 0]} and {pairs[i, 1]} are both must-link (one group) and cannot-link")
    for x, y in zip(a.tolist(), b.tolist()):
        out.setdefault(x, set()).add(y)
        out.setdefault(y, set()).add(x)
    return out


def _merge_conflicts(conflicts: dict[int, set[int]], keep: int, gone: int) -> None:
    """Cluster ``gone`` was merged into ``keep``: its conflicts become ``keep``'s."""
    cg = conflicts.pop(gone, None)
    if not cg:
        return
    for other in cg:
        s = conflicts[other]
        s.discard(gone)
        s.add(keep)
    conflicts.setdefault(keep, set()).update(cg)


def _forbidden(conflicts: dict[int, set[int]], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P,) bool: cluster pairs (a[i], b[i]) that a cannot-link keeps apart."""
    out = np.zeros(a.size, bool)
    if not conflicts:
        return out
    has = np.zeros(int(max(a.max(initial=0), b.max(initial=0))) + 1, bool)
    has[[c for c in conflicts if c < has.size and conflicts[c]]] = True
    for i in np.flatnonzero(has[a] & has[b]).tolist():  # only pairs that can conflict
        out[i] = int(b[i]) in conflicts[int(a[i])]
    return out


def average_linkage(graph: KnnGraph, embeddings: np.ndarray, threshold: float, *,
                    constraints: Constraints | None = None, max_rounds: int = 10_000) -> np.ndarray:
    """Average-linkage agglomerative clustering cut at ``threshold``, on the graph's candidate
    pairs → (N,) int labels (not renumbered; see :func:`order_labels`).

    Two clusters merge while the mean cosine over all their cross pairs is ``>= threshold``.
    That mean needs no pair enumeration: for unit rows, mean_{a∈A, b∈B} a·b = μ_A·μ_B (the
    cluster means), kept as running sums. Clusters are merged in rounds of reciprocal best
    pairs (each the other's most similar candidate), which for a reducible linkage such as
    average linkage gives the same merges as the one-pair-at-a-time algorithm. Approximation:
    two clusters are compared only when a graph edge joins a face of one to a face of the
    other; the similarity of a compared pair is always exact. With every pair in the graph
    this is scikit-learn's ``AgglomerativeClustering(linkage="average", metric="cosine")``
    (tests); on LFW the k=20 graph already gave its clusters exactly.

    ``constraints`` (:class:`Constraints`): groups start as one cluster, a pair kept apart by
    a cannot-link or by two frozen clusters is never merged (it leaves the candidates for good:
    merges only add conflicts), and non-core faces join the finished clusters afterwards by
    the same mean-cosine rule without changing them (label ``-1`` when none takes them).
    """
    x = _unit_rows(embeddings)
    n = x.shape[0]
    if graph.n != n:
        raise ValueError(f"graph has {graph.n} nodes but embeddings have {n} rows")
    c = constraints or Constraints()
    init, core, frozen = _initial_clusters(n, c)
    conflicts = _conflicts(c.cannot_link, init)
    grouped = bool(np.any(init != np.arange(n)))
    sums = np.zeros(x.shape, np.float64)  # (N, D) running sums of each cluster's rows; float64: no drift
    np.add.at(sums, init[core], x[core])
    sizes = np.bincount(init[core], minlength=n).astype(np.float64)
    parent = init.copy()  # face/cluster id → the cluster it was merged into (itself if alive)
    up = (graph.rows < graph.cols) & core[graph.rows] & core[graph.cols]
    a, b = init[graph.rows[up]], init[graph.cols[up]]  # candidate cluster pairs
    sim = graph.weights[up].astype(np.float64)  # single faces: the mean cosine is the edge's
    if grouped:  # pairs of pre-merged groups: one pair each, its exact mean cosine
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        inside = lo == hi
        uniq = np.unique(lo[~inside] * n + hi[~inside])
        a, b = uniq // n, uniq % n
        sim = np.einsum("ij,ij->i", sums[a], sums[b]) / (sizes[a] * sizes[b])
    else:
        a, b = np.minimum(a, b), np.maximum(a, b)
    changed = np.zeros(n, bool)
    for round_ in range(max_rounds):
        # Below the threshold a pair never merges: when B merges with C, sim(A, B∪C) is a
        # size-weighted mean of sim(A, B) and sim(A, C), so it reaches the threshold only if
        # sim(A, C) does, and that pair is then a candidate of its own.
        keep = sim >= threshold
        keep &= ~(frozen[a] & frozen[b])
        keep &= ~_forbidden(conflicts, a, b)
        a, b, sim = a[keep], b[keep], sim[keep]
        if a.size == 0:
            break
        # Each cluster's best candidate (highest similarity, then lowest id).
        # (Unbuffered ufunc.at scatters: several times faster than sorting the pairs.)
        src, dst, s2 = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([sim, sim])
        best_sim = np.full(n, -np.inf)
        np.maximum.at(best_sim, src, s2)
        top = s2 == best_sim[src]
        best = np.full(n, n, np.int64)
        np.minimum.at(best, src[top], dst[top])
        rnn = (best[a] == b) & (best[b] == a)  # disjoint pairs: each cluster has one best
        keep_id, gone = a[rnn], b[rnn]
        sums[keep_id] += sums[gone]
        sizes[keep_id] += sizes[gone]
        parent[gone] = keep_id
        frozen[keep_id] |= frozen[gone]
        if conflicts:
            for k_, g_ in zip(keep_id.tolist(), gone.tolist()):
                _merge_conflicts(conflicts, k_, g_)
        changed[:] = False
        changed[keep_id] = True
        # Re-point candidate pairs at the merged clusters (one level: ids were alive this
        # round), drop pairs now inside one cluster and duplicates, and recompute the
        # similarity of pairs that touch a merged cluster (the others have not changed).
        a, b = parent[a], parent[b]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        inside = lo == hi
        uniq, first_of = np.unique(lo[~inside] * n + hi[~inside], return_index=True)
        a, b, sim = uniq // n, uniq % n, sim[~inside][first_of]
        stale = np.flatnonzero(changed[a] | changed[b])
        for s0 in range(0, stale.size, _SIM_CHUNK):  # bounded (chunk, D) temporaries
            i = stale[s0:s0 + _SIM_CHUNK]
            sim[i] = np.einsum("ij,ij->i", sums[a[i]], sums[b[i]]) / (sizes[a[i]] * sizes[b[i]])
        log.debug("average_linkage round %d: %d merges, %d candidate pairs left", round_ + 1, keep_id.size, a.size)
    labels = _follow(parent)
    if not core.all():
        _attach(graph, x, labels, core, sums, sizes, conflicts, threshold)
    return labels


def _follow(parent: np.ndarray) -> np.ndarray:
    """Follow merge chains to the surviving cluster id of every face."""
    labels = parent.copy()
    while True:
        nxt = parent[labels]
        if np.array_equal(nxt, labels):
            return labels
        labels = nxt


def _attach(graph: KnnGraph, x: np.ndarray, labels: np.ndarray, core: np.ndarray, sums: np.ndarray,
            sizes: np.ndarray, conflicts: dict[int, set[int]], threshold: float) -> None:
    """Non-core faces join, in place, the cluster of a graph neighbour with the highest mean
    cosine ``x·μ`` if ``>= threshold`` and no cannot-link forbids it (best pairs first; a face
    that joins brings its cannot-links along). The clusters' means do not change: a
    low-quality face never pulls a cluster towards another. The others get ``-1``."""
    loose = ~core
    labels[loose] = -1
    e = loose[graph.rows] & core[graph.cols]
    f, cl = graph.rows[e], labels[graph.cols[e]]
    if f.size:
        key = np.unique(f * x.shape[0] + cl)
        f, cl = key // x.shape[0], key % x.shape[0]
        sim = np.einsum("ij,ij->i", x[f], sums[cl]) / sizes[cl]
        ok = sim >= threshold
        f, cl, sim = f[ok], cl[ok], sim[ok]
        for i in np.argsort(-sim, kind="stable").tolist():
            face, cluster = int(f[i]), int(cl[i])
            if labels[face] >= 0 or cluster in conflicts.get(face, ()):
                continue
            labels[face] = cluster
            _merge_conflicts(conflicts, cluster, face)
    log.debug("attached %d of %d low-quality faces", int(np.sum(labels[loose] >= 0)), int(loose.sum()))


def split_cannot_links(labels: np.ndarray, embeddings: np.ndarray, threshold: float,
                       cannot_link: np.ndarray) -> np.ndarray:
    """``labels`` with every cluster that holds a cannot-link pair re-clustered on its own by
    constrained average linkage (all its pairs compared): a repair for methods that cannot take
    constraints while they cluster. New clusters get fresh ids above ``labels.max()``."""
    labels = np.asarray(labels, np.int64).copy()
    pairs = np.asarray(cannot_link, np.int64).reshape(-1, 2)
    bad = pairs[(labels[pairs[:, 0]] == labels[pairs[:, 1]]) & (labels[pairs[:, 0]] >= 0)]
    next_id = int(labels.max(initial=-1)) + 1
    for cid in np.unique(labels[bad[:, 0]]).tolist():
        members = np.flatnonzero(labels == cid)
        where = np.full(labels.size, -1, np.int64)
        where[members] = np.arange(members.size)
        inner = pairs[(where[pairs[:, 0]] >= 0) & (where[pairs[:, 1]] >= 0)]
        sub = embeddings[members]
        graph = knn_graph(sub, k=max(members.size - 1, 1), threshold=threshold, exact=True)
        sub_labels = average_linkage(graph, sub, threshold,
                                     constraints=Constraints(cannot_link=where[inner]))
        _, new = np.unique(sub_labels, return_inverse=True)
        labels[members] = next_id + new.ravel()
        next_id += int(new.max()) + 1
    return labels


def order_labels(labels: np.ndarray, min_size: int = 1) -> np.ndarray:
    """Renumber clusters by size: 0 is the biggest; equal sizes in order of their first face.

    Faces in clusters smaller than ``min_size`` (and faces already labelled ``-1``) get ``-1``.
    """
    labels = np.asarray(labels)
    out = np.full(labels.shape, -1, np.int64)
    valid = labels >= 0
    if not valid.any():
        return out
    uniq, first, inverse, sizes = np.unique(labels[valid], return_index=True, return_inverse=True,
                                            return_counts=True)
    rank = np.lexsort((first, -sizes))  # biggest first, then earliest first face
    new_id = np.empty(uniq.size, np.int64)
    new_id[rank] = np.arange(uniq.size)
    new_id[sizes < min_size] = -1
    out[valid] = new_id[inverse.ravel()]
    return out


def cluster_graph(graph: KnnGraph, embeddings: np.ndarray, threshold: float, method: Method = "average", *,
                  seed: int = 0, mutual: bool = False, min_weight: float | None = None,
                  constraints: Constraints | None = None) -> np.ndarray:
    """The clustering step alone, on a graph already built: (N,) raw labels of ``method``.

    ``constraints``: average linkage respects all of them while it merges; the other methods
    take only cannot-links, by :func:`split_cannot_links` after they ran."""
    if method == "average":
        return average_linkage(graph, embeddings, threshold, constraints=constraints)
    c = constraints or Constraints()
    if c.groups is not None or c.frozen is not None or c.core is not None:
        raise ValueError(f"method {method!r} takes only cannot-link constraints (groups, frozen "
                         "clusters and low-quality faces need method 'average')")
    if method == "chinese_whispers":
        labels = chinese_whispers(graph, seed=seed)
    else:
        labels = connected_components(graph, mutual=mutual, min_weight=min_weight)
    if c.cannot_link is not None and len(c.cannot_link):
        labels = split_cannot_links(labels, embeddings, threshold, c.cannot_link)
    return labels


def cluster_embeddings(embeddings: np.ndarray, threshold: float, method: Method = "average", *,
                       k: int | None = None, min_size: int = 1, seed: int = 0, exact: bool | None = None,
                       mutual: bool = False, min_weight: float | None = None,
                       constraints: Constraints | None = None) -> np.ndarray:
    """Cluster faces → (N,) labels: 0 = the biggest cluster, ``-1`` = unclustered.

    ``threshold``: the cosine at which two faces count as the same person (use the model's
    open-set search threshold; see the module docstring). ``method``: ``"average"``
    (:func:`average_linkage`), ``"chinese_whispers"`` (``seed``) or ``"components"`` (with the
    optional ``mutual``/``min_weight`` pruning of :func:`connected_components`). ``k``
    (default: the method's :data:`METHOD_K`), ``exact``: see :func:`knn_graph`. ``constraints``:
    see :class:`Constraints`; with frozen faces (an incremental run) only the other faces'
    neighbours are searched: frozen clusters never merge with each other, so their own
    neighbour lists would propose nothing new.
    """
    if method not in METHOD_K:
        raise ValueError(f"unknown clustering method {method!r}: average, chinese_whispers or components")
    k = METHOD_K[method] if k is None else k
    query = None
    if constraints is not None and constraints.frozen is not None:
        query = ~np.asarray(constraints.frozen, bool)
    graph = knn_graph(embeddings, k=k, threshold=threshold, exact=exact, query=query)
    labels = order_labels(cluster_graph(graph, embeddings, threshold, method, seed=seed, mutual=mutual,
                                        min_weight=min_weight, constraints=constraints), min_size)
    log.info("clustered %d faces into %d clusters (%s, threshold %.4g, k=%d; %d unclustered)", graph.n,
             int(labels.max()) + 1 if labels.size else 0, method, threshold, k, int(np.sum(labels < 0)))
    return labels


def match_previous(previous: np.ndarray, labels: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """Renumber ``labels`` so clusters that hold the same people as an earlier run keep its ids.

    ``previous`` (M,): the earlier run's labels of faces that are also in this run (``-1`` =
    unclustered then); ``index`` (M,): where those faces are in ``labels`` (default: the first
    M, i.e. new faces were appended). Each new cluster is matched to at most one old cluster
    and vice versa, maximising the number of shared faces (Hungarian assignment, per connected
    group of overlapping clusters); a matched cluster takes the old id. Unmatched clusters get
    fresh ids above every old id, biggest first. ``-1`` stays ``-1``.
    """
    previous = np.asarray(previous, np.int64)
    labels = np.asarray(labels, np.int64)
    idx = np.arange(previous.size) if index is None else np.asarray(index, np.int64)
    if idx.shape != previous.shape:
        raise ValueError(f"previous has {previous.size} faces but index has {idx.size}")
    if previous.size > labels.size or (idx.size and (idx.min() < 0 or idx.max() >= labels.size)):
        raise ValueError("previous faces must be a subset of this run's faces")
    new_of_known = labels[idx]
    both = (previous >= 0) & (new_of_known >= 0)
    mapping: dict[int, int] = {}
    if both.any():
        # Overlap counts between (new cluster, old cluster) pairs that share faces.
        pairs, shared = np.unique(np.stack([new_of_known[both], previous[both]], 1), axis=0, return_counts=True)
        new_ids, new_pos = np.unique(pairs[:, 0], return_inverse=True)
        old_ids, old_pos = np.unique(pairs[:, 1], return_inverse=True)
        new_pos, old_pos = new_pos.ravel(), old_pos.ravel()
        # Clusters only compete with clusters they overlap (transitively): solve each
        # connected group of the bipartite overlap graph on its own, small dense matrix.
        nn, no = new_ids.size, old_ids.size
        bip = sp.coo_matrix((np.ones(len(pairs)), (new_pos, nn + old_pos)), shape=(nn + no, nn + no))
        _, comp = _csgraph_components(bip, directed=False)
        pair_comp = comp[new_pos]
        order = np.argsort(pair_comp, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(pair_comp[order]) != 0])
        for s, e in zip(starts, np.r_[starts[1:], order.size]):
            sel = order[s:e]
            if sel.size == 1:  # one new cluster overlapping one old cluster only
                mapping[int(new_ids[new_pos[sel[0]]])] = int(old_ids[old_pos[sel[0]]])
                continue
            rn, rn_inv = np.unique(new_pos[sel], return_inverse=True)
            ro, ro_inv = np.unique(old_pos[sel], return_inverse=True)
            m = np.zeros((rn.size, ro.size))
            m[rn_inv.ravel(), ro_inv.ravel()] = shared[sel]
            r_i, c_i = linear_sum_assignment(m, maximize=True)
            for r, c in zip(r_i, c_i):
                if m[r, c] > 0:
                    mapping[int(new_ids[rn[r]])] = int(old_ids[ro[c]])
    out = np.full(labels.shape, -1, np.int64)
    valid = labels >= 0
    uniq, first, inverse, sizes = np.unique(labels[valid], return_index=True, return_inverse=True,
                                            return_counts=True)
    target = np.array([mapping.get(int(u), -1) for u in uniq], np.int64)
    fresh = np.flatnonzero(target < 0)
    fresh = fresh[np.lexsort((first[fresh], -sizes[fresh]))]  # biggest unmatched first
    next_id = max(int(previous.max()) + 1 if previous.size else 0, 0)
    target[fresh] = np.arange(next_id, next_id + fresh.size)
    out[valid] = target[inverse.ravel()]
    return out
