"""Gallery search latency, throughput, recall and memory vs gallery size and index type.

    python -m benchmarks.gallery_search [--sizes 10000 100000 1000000] [--batches 1 64 1024]
                                        [--indexes flat ivf hnsw] [--hnsw-max 100000] [--out out/gallery_search.json]

Synthetic 512-d unit vectors (Gaussian, normalised), one template per identity, searched
through :class:`facerec.gallery.Gallery` (``k`` identities per query). Queries are noisy
copies of gallery vectors (cosine ≈ 0.7 to their source, like a second photo of an enrolled
person); recall@1 is measured against exact (flat) search on the same gallery.

Reported per size × index × batch: ms per query and queries/s through the gallery API and
through the bare FAISS index, recall@1, index bytes per vector and gallery bytes per vector
(index + the exact template copy the gallery keeps). Two extra tables: flat single-query
search vs the memory-bandwidth floor (every vector read once: N·D·4 bytes at ``--bandwidth``
GB/s), and faiss 1.15's BLAS threshold (FAISS's default vs the value facerec sets) side by side.
"""
from __future__ import annotations

import faiss

FAISS_DEFAULT_BLAS_THRESHOLD = int(faiss.cvar.distance_compute_blas_threshold)

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from facerec.gallery import Gallery  # noqa: E402
from facerec.gallery.faiss_gallery import BLAS_THRESHOLD  # noqa: E402

FACEREC_BLAS_THRESHOLD = int(BLAS_THRESHOLD or FAISS_DEFAULT_BLAS_THRESHOLD)
log = logging.getLogger(__name__)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ivf_nlist(n: int) -> int:
    """≈ 4·√N lists (a power of two), capped so training has 39 points per list."""
    return int(min(2 ** round(math.log2(4 * math.sqrt(n))), 2 ** int(math.log2(n / 39))))


def factory_for(kind: str, n: int, hnsw_m: int, nlist: int | None = None) -> str:
    return {"flat": "Flat", "ivf": f"IVF{nlist or ivf_nlist(n)},Flat", "hnsw": f"HNSW{hnsw_m}"}[kind]


def build(n: int, d: int, factory: str, nprobe: int, ef_search: int, seed: int, chunk: int = 100_000) -> Gallery:
    """A gallery of ``n`` identities, enrolled in chunks (as a bulk import would)."""
    g = Gallery(index=factory, nprobe=nprobe, ef_search=ef_search, model_id="synthetic")
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x = unit(rng.standard_normal((m, d), dtype=np.float32))
        g.enroll_many([f"id{i:07d}" for i in range(start, start + m)], x)
    return g


def make_queries(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Noisy copies of random gallery vectors: cos(query, source) ≈ 1/√(1+σ²) = 0.7."""
    rng = np.random.default_rng(seed + 1)
    src = vectors[rng.choice(len(vectors), min(count, len(vectors)), replace=False)]
    sigma = math.sqrt(1 / 0.7 ** 2 - 1)
    return unit(src + sigma / math.sqrt(src.shape[1]) * rng.standard_normal(src.shape, dtype=np.float32)).astype(np.float32)


def time_batches(fn: Callable[[np.ndarray], Any], q: np.ndarray, batch: int, min_time: float, max_reps: int) -> float:
    """Median seconds per query over repeated ``fn(batch of queries)`` calls (after one warm-up);
    the median, not the best, since other jobs share the CPU."""
    fn(q[:batch])
    times: list[float] = []
    start = time.perf_counter()
    i = 0
    while len(times) < max_reps and (time.perf_counter() - start < min_time or len(times) < 3):
        lo = (i * batch) % max(1, len(q) - batch + 1)
        t = time.perf_counter()
        fn(q[lo:lo + batch])
        times.append((time.perf_counter() - t) / batch)
        i += 1
    return float(np.median(times))


def compare_blas(index: faiss.Index, q: np.ndarray, k: int, reps: int) -> dict[str, dict[str, float]]:
    """ms per query under FAISS's default BLAS threshold, 1 (always BLAS) and facerec's,
    interleaved call by call so all see the same machine load; median and best of ``reps``."""
    thresholds = {"faiss_default": FAISS_DEFAULT_BLAS_THRESHOLD, "always_blas": 1, "facerec": FACEREC_BLAS_THRESHOLD}
    times: dict[str, list[float]] = {name: [] for name in thresholds}
    try:
        for rep in range(reps + 1):
            for name, thr in thresholds.items():
                faiss.cvar.distance_compute_blas_threshold = thr
                t = time.perf_counter()
                index.search(q, k)
                if rep:  # the first round is a warm-up
                    times[name].append((time.perf_counter() - t) * 1e3 / len(q))
    finally:
        faiss.cvar.distance_compute_blas_threshold = FACEREC_BLAS_THRESHOLD
    return {name: {"threshold": thresholds[name], "ms_per_query": float(np.median(t)), "best_ms": float(np.min(t))}
            for name, t in times.items()}


def index_bytes(index: faiss.Index, n: int, d: int, kind: str) -> tuple[float, bool]:
    """(bytes per vector, measured?) — serialised size up to 200k vectors; above that the same
    per-vector formula the smaller sizes confirm (a 2-GB serialisation would not fit beside the
    index on this shared machine)."""
    if n <= 200_000:
        return faiss.serialize_index(index).size / n, True
    ivf = faiss.try_extract_index_ivf(index)
    per = 4 * d + (8 if ivf is not None else 0)  # vectors (+ int64 ids in the inverted lists)
    if ivf is not None:
        per += ivf.nlist * d * 4 / n  # coarse centroids
    return per, False


class Bare:
    """A bare FAISS index for sizes above ``--gallery-max``: no IndexIDMap2 and no template copy,
    so a 1M × 512 index (2 GB) fits beside the other jobs on this machine. Search cost is the
    same kernel the gallery calls; the gallery's own Python overhead is measured at smaller N."""

    def __init__(self, n: int, d: int, factory: str, nprobe: int, ef_search: int, seed: int, chunk: int = 100_000,
                 train_max: int = 100_000) -> None:
        self.index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        self.first: np.ndarray | None = None  # the first chunk: queries are made from it
        for start in range(0, n, chunk):
            x = unit(rng.standard_normal((min(chunk, n - start), d), dtype=np.float32))
            if self.first is None:
                self.first = x
                if not self.index.is_trained:  # FAISS's 39 points per centroid, at most train_max
                    ivf = faiss.try_extract_index_ivf(self.index)
                    self.index.train(x[:min(train_max, 39 * ivf.nlist if ivf is not None else train_max)])
            self.index.add(x)
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None:
            ivf.nprobe = nprobe
        if hasattr(faiss.downcast_index(self.index), "hnsw"):
            faiss.downcast_index(self.index).hnsw.efSearch = ef_search


def run(sizes: Sequence[int], batches: Sequence[int], kinds: Sequence[str], *, d: int = 512, k: int = 10,
        nprobe: int = 32, ef_search: int = 64, hnsw_m: int = 32, hnsw_max: int = 100_000,
        gallery_max: int = 100_000, n_queries: int = 1024, min_time: float = 1.0, max_reps: int = 30,
        bandwidth_gbs: float = 45.0, seed: int = 0, blas_batches: Sequence[int] = (1, 4, 16, 64, 256),
        blas_reps: int = 9, nlist: int | None = None, out: Path | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "config": {"sizes": list(sizes), "batches": list(batches), "indexes": list(kinds), "d": d, "k": k,
                   "blas_batches": list(blas_batches), "nprobe": nprobe, "ef_search": ef_search, "hnsw_m": hnsw_m,
                   "gallery_max": gallery_max, "nlist": nlist, "queries": n_queries, "query_cosine_to_source": 0.7,
                   "bandwidth_gbs": bandwidth_gbs, "blas_threshold_default": FAISS_DEFAULT_BLAS_THRESHOLD,
                   "blas_threshold_facerec": FACEREC_BLAS_THRESHOLD, "faiss": faiss.__version__,
                   "omp_threads": faiss.omp_get_max_threads(), "load_average_start": os.getloadavg()},
        "rows": [], "bandwidth_floor": [], "blas_threshold": [], "skipped": []}
    for n in sizes:
        truth: np.ndarray | None = None
        q: np.ndarray | None = None
        bare = n > gallery_max
        for kind in ["flat"] + [x for x in kinds if x != "flat"]:  # flat first: it is the ground truth
            if kind == "hnsw" and n > hnsw_max:
                res["skipped"].append(f"HNSW{hnsw_m} at N={n:,} (build too slow on this CPU; --hnsw-max {hnsw_max})")
                continue
            factory = factory_for(kind, n, hnsw_m, nlist)
            t0 = time.perf_counter()
            if bare:
                b_ = Bare(n, d, factory, nprobe, ef_search, seed)
                index, g = b_.index, None
            else:
                g = build(n, d, factory, nprobe, ef_search, seed)
                index = g.index
            build_s = time.perf_counter() - t0
            if q is None:
                q = make_queries(b_.first if bare else g._store.vectors, n_queries, seed)
            if bare:
                top1 = index.search(q, 1)[1][:, 0]
            else:
                top1 = np.array([int(r.matches[0].identity[2:]) for r in g.search_embeddings(q, k=1)])
            if kind == "flat":
                truth = top1
            recall = float(np.mean(top1 == truth))
            ib, measured = index_bytes(index, n, d, kind)
            store = 0 if bare else (g._store.vectors.nbytes + g._store.ids.nbytes + g._store.owners.nbytes) / n
            for b in batches:
                b = min(b, len(q))
                api = None if bare else time_batches(lambda x: g.search_embeddings(x, k=k), q, b, min_time, max_reps)
                raw = time_batches(lambda x: index.search(x, k), q, b, min_time, max_reps)
                row = {"n": n, "index": factory, "kind": kind, "batch": b, "build_s": round(build_s, 2),
                       "path": "bare faiss" if bare else "gallery",
                       "ms_per_query": None if api is None else api * 1e3, "qps": 1 / (api or raw),
                       "index_ms_per_query": raw * 1e3, "recall_at_1": recall,
                       "index_bytes_per_vector": ib, "bytes_measured": measured,
                       "gallery_bytes_per_vector": None if bare else ib + store}
                res["rows"].append(row)
                print(_fmt_row(row), flush=True)
            if kind == "flat":
                floor_ms = n * d * 4 / (bandwidth_gbs * 1e9) * 1e3
                single = next(r for r in res["rows"] if r["n"] == n and r["kind"] == "flat" and r["batch"] == 1)
                res["bandwidth_floor"].append({"n": n, "index_ms": single["index_ms_per_query"],
                                               "gallery_ms": single["ms_per_query"], "floor_ms": floor_ms,
                                               "ratio": single["index_ms_per_query"] / floor_ms})
                reps = max(3, min(blas_reps, int(blas_reps * 100_000 / n)))
                for b in blas_batches:
                    res["blas_threshold"].append({"n": n, "batch": min(b, len(q)), "reps": reps,
                                                  **compare_blas(index, q[:min(b, len(q))], k, reps)})
                    print("  blas", _fmt_blas(res["blas_threshold"][-1]), flush=True)
            del g, index
            if bare:
                del b_
            gc.collect()
        res["config"]["load_average_end"] = os.getloadavg()
        if out is not None:  # after every size: a long run keeps what it measured
            out.write_text(json.dumps(res, indent=1))
    return res


def _fmt_row(r: dict[str, Any]) -> str:
    api = "-" if r["ms_per_query"] is None else f"{r['ms_per_query']:.3f}"
    gb = "-" if r["gallery_bytes_per_vector"] is None else f"{r['gallery_bytes_per_vector']:.0f}"
    est = "" if r["bytes_measured"] else "~"
    return (f"{r['n']:>9,}  {r['index']:<14} {r['batch']:>5}  {api:>9}  {r['index_ms_per_query']:>9.3f}"
            f"  {r['qps']:>9.0f}  {r['recall_at_1']:>6.3f}  {est + format(r['index_bytes_per_vector'], '.0f'):>7}"
            f"  {gb:>7}  {r['build_s']:>7.1f}")


def _fmt_blas(r: dict[str, Any]) -> str:
    cells = "  ".join(f"{r[m]['ms_per_query']:>9.3f} ({r[m]['best_ms']:>8.3f})"
                      for m in ("faiss_default", "always_blas", "facerec"))
    return f"{r['n']:>9,}  {r['batch']:>5}  {cells}"


HEADER = (f"{'N':>9}  {'index':<14} {'batch':>5}  {'ms/query':>9}  {'faiss ms':>9}  {'QPS':>9}  {'R@1':>6}"
          f"  {'B/vec':>7}  {'B/vec*':>7}  {'build s':>7}")


def print_tables(res: dict[str, Any]) -> None:
    print("\n" + HEADER)
    for r in res["rows"]:
        print(_fmt_row(r))
    print("(ms/query: through Gallery.search_embeddings, '-' = bare FAISS index only; faiss ms: the index's "
          "search; QPS: of the gallery path where measured; B/vec: index bytes per vector, ~ = formula; "
          "B/vec*: + the gallery's exact template copy)")
    c = res["config"]
    print(f"\nflat, one query vs the memory-bandwidth floor ({c['bandwidth_gbs']} GB/s, N×D×4 bytes read)")
    print(f"{'N':>9}  {'faiss ms':>9}  {'floor ms':>9}  {'ratio':>6}")
    for r in res["bandwidth_floor"]:
        print(f"{r['n']:>9,}  {r['index_ms']:>9.2f}  {r['floor_ms']:>9.2f}  {r['ratio']:>6.2f}")
    print(f"\nflat search, faiss distance_compute_blas_threshold: {c['blas_threshold_default']} (FAISS default) vs 1 "
          f"(always BLAS) vs {c['blas_threshold_facerec']} (facerec); ms per query, median (best) of interleaved calls")
    print(f"{'N':>9}  {'batch':>5}  {'default':>20}  {'always BLAS':>20}  {'facerec':>20}")
    for r in res["blas_threshold"]:
        print(_fmt_blas(r))
    for s in res["skipped"]:
        print(f"skipped: {s}")
    print(f"load average (1, 5, 15 min): start {c['load_average_start']}, end {c.get('load_average_end')}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    p.add_argument("--indexes", nargs="+", choices=("flat", "ivf", "hnsw"), default=["flat", "ivf", "hnsw"])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("-k", type=int, default=10, help="identities per query (default 10)")
    p.add_argument("--nprobe", type=int, default=32)
    p.add_argument("--nlist", type=int, help="IVF lists for every size (default ≈ 4·√N, ≥ 39 training points each)")
    p.add_argument("--ef-search", type=int, default=64)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--hnsw-max", type=int, default=100_000, help="skip HNSW above this size (build time)")
    p.add_argument("--gallery-max", type=int, default=100_000,
                   help="above this size measure bare FAISS indexes (no gallery template copy: memory)")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of repetitions per measurement")
    p.add_argument("--blas-batches", type=int, nargs="*", default=[1, 4, 16, 64, 256],
                   help="batch sizes of the BLAS-threshold comparison (flat index; from 250 queries at d=512 "
                        "every setting uses BLAS)")
    p.add_argument("--bandwidth", type=float, default=45.0, help="memory read bandwidth, GB/s, for the floor")
    p.add_argument("--threads", type=int, help="FAISS (OpenMP) threads; default: FAISS's (all cores)")
    p.add_argument("--out", default="out/gallery_search.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(HEADER, flush=True)
    res = run(args.sizes, args.batches, args.indexes, d=args.dim, k=args.k, nprobe=args.nprobe,
              ef_search=args.ef_search, hnsw_m=args.hnsw_m, hnsw_max=args.hnsw_max, gallery_max=args.gallery_max,
              min_time=args.min_time, bandwidth_gbs=args.bandwidth, blas_batches=args.blas_batches,
              nlist=args.nlist, out=out)
    print_tables(res)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
