"""Face clustering on all of LFW: facerec's methods against dlib and scikit-learn, and scaling.

    python -m benchmarks.cluster_lfw [--quick] [--weights PATH | --model NAME | --embeddings FILE.npz]
        [--save-embeddings FILE.npz] [--threshold T | --threshold-from search|verification]
        [--k K] [--sizes 1000 10000 100000] [--reference-max 13233] [--timeout 900]
        [--skip dlib hdbscan agglomerative scaling sweep] [--out benchmarks/results/cluster_lfw.json]

Data: every photo of ``$FACEREC_DATA_DIR/lfw/<Name>/*.jpg`` (13,233 photos, 5,749 people; default
data folder ``../shared/data``), truth = the folder name; ``--quick``: a 2,000-photo subset of
whole people (seeded), and a scaling table to 10k only. Embeddings come from the model
(``--weights``/``--model``, default: the default model) through
:func:`pipelines.evaluate.embedding.embed_image_files` with the shared embedding cache, so
after a ``facerec evaluate lfw`` run they cost nothing; or from
``--embeddings FILE.npz`` (arrays ``embeddings``, ``labels``; written by ``--save-embeddings``
with the threshold and model name).

Threshold: ``--threshold``, else the model's open-set *search* threshold (``--threshold-from
search``, the default: calibrated so about 1e-4 of stranger comparisons pass) or its
verification threshold (``--threshold-from verification``). Clustering N faces compares each
with N others, so it needs the stricter one: at the verification threshold (FAR of a few %)
every face has dozens of strangers above it (figures in the sweep table).

Rows (all on the same embeddings, one threshold): facerec's average linkage (exact cluster
means on kNN candidate pairs), Chinese whispers and connected components (plain and mutual-kNN
pruned) through :func:`facerec.clustering.cluster_embeddings`; dlib's
``chinese_whispers_clustering`` (all pairs with Euclidean distance < sqrt(2 - 2·threshold),
the same rule on unit vectors; unweighted, 100 passes); scikit-learn's
``AgglomerativeClustering`` (average linkage, cosine distance, ``distance_threshold = 1 -
threshold``) and ``HDBSCAN`` (min_cluster_size 2, min_samples 1, Euclidean on unit vectors ≡
cosine order; noise → singletons; it has no threshold). Columns: pairwise and BCubed
precision/recall/F1 (:mod:`facerec.metrics.cluster_metrics`), clusters against true people, wall and CPU
seconds, and peak memory = how far the resident set of a process forked for that one run rose
above its start (Linux peak RSS, VmHWM, reset at the start; counts C/C++ allocations too,
unlike tracemalloc). Scikit-learn's methods need
all N² distances: above ``--reference-max`` faces they run on a seeded subset of whole people
(labelled, with facerec's default method on the same subset for comparison).

Scaling: the default method on 1k and 10k real faces and 100k beyond LFW. The extra faces are
copies of the real embeddings, each copy of LFW turned by its own random rotation (a new set of
5,749 "people" with LFW's own within- and between-person geometry) plus small Gaussian noise
(σ = 0.02 per coordinate), re-normalised; the table says which rows are synthetic. Beyond
``EXACT_MAX`` faces the kNN graph is approximate: its recall against exact search is measured on
2,000 sampled faces.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import platform
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facerec import clustering
from facerec.metrics.cluster_metrics import cluster_scores

log = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cluster_lfw.json"
QUICK_PHOTOS = 2000
#: The method facerec uses by default (chosen by this benchmark).
DEFAULT_METHOD = "average"
SYNTH_NOISE = 0.02
RECALL_SAMPLE = 2000


# ---------------------------------------------------------------------------------------- data

@dataclass
class Dataset:
    """Embeddings (N, D) float32 unit rows with their true person names (N,)."""

    embeddings: np.ndarray
    names: np.ndarray
    source: str
    threshold: float | None = None
    verification_threshold: float | None = None
    search_threshold: float | None = None
    model: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def lfw_photos(lfw_dir: Path, n: int | None = None, seed: int = 0) -> tuple[list[Path], list[str]]:
    """All photos (sorted) or ``n`` of them: whole people in a seeded random order, the last
    person cut to fit, so the subset has LFW's mix of big and single-photo people."""
    people = sorted(p.name for p in lfw_dir.iterdir() if p.is_dir())
    if not people:
        raise SystemExit(f"no LFW people folders in {lfw_dir}")
    order = range(len(people)) if n is None else np.random.default_rng(seed).permutation(len(people))
    paths: list[Path] = []
    names: list[str] = []
    for i in order:
        files = sorted((lfw_dir / people[i]).glob("*.jpg"))
        paths += files
        names += [people[i]] * len(files)
        if n is not None and len(paths) >= n:
            break
    return (paths, names) if n is None else (paths[:n], names[:n])


def embed_lfw(args: argparse.Namespace) -> Dataset:
    from facerec import FaceRecognizer
    from pipelines.evaluate.embedding import default_cache_dir
    from pipelines.evaluate.embedding import embed_image_files
    from pipelines.paths import data_dir

    lfw = data_dir() / "lfw"
    paths, names = lfw_photos(lfw, QUICK_PHOTOS if args.quick else args.photos)
    kw: dict[str, Any] = {"model": args.model} if args.model else {}
    rec = FaceRecognizer.load(args.weights, **kw)
    cache = Path(args.cache) if args.cache else default_cache_dir()
    t0 = time.perf_counter()
    emb = embed_image_files(rec, paths, cache_dir=cache, progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    index = emb.index()
    x = emb.embeddings[[index[p] for p in paths]]
    model = getattr(rec, "model_name", None) or (str(args.weights) if args.weights else None)
    try:
        verification = float(rec.threshold)
    except Exception:  # an uncalibrated model: only --threshold can say
        verification = None
    return Dataset(x, np.array(names), f"{lfw} ({len(paths)} photos)", None, verification,
                   rec.search_threshold, model,
                   {"embed_seconds": round(seconds, 1), "fallback_center_crops": len(emb.fallback_paths),
                    "embedding_cache": str(cache)})


def load_npz(path: str) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        if "embeddings" not in z.files or "labels" not in z.files:
            raise SystemExit(f"{path}: needs arrays 'embeddings' and 'labels'")
        get = lambda k: float(z[k]) if k in z.files and np.isfinite(z[k]) else None  # noqa: E731
        return Dataset(z["embeddings"].astype(np.float32), z["labels"], f"{path}", get("threshold"),
                       get("verification_threshold"), get("search_threshold"),
                       str(z["model"]) if "model" in z.files else None)


def save_npz(path: str, data: Dataset, threshold: float) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nan = float("nan")
    np.savez(path, embeddings=data.embeddings, labels=data.names, threshold=threshold,
             verification_threshold=data.verification_threshold if data.verification_threshold is not None else nan,
             search_threshold=data.search_threshold if data.search_threshold is not None else nan,
             model=data.model or "")
    log.info("wrote %s", path)


def choose_threshold(args: argparse.Namespace, data: Dataset) -> tuple[float, str]:
    if args.threshold is not None:
        return float(args.threshold), "--threshold"
    pick = data.search_threshold if args.threshold_from == "search" else data.verification_threshold
    if pick is not None:
        return float(pick), f"model {args.threshold_from} threshold"
    if data.threshold is not None:
        return float(data.threshold), "saved with the embeddings"
    raise SystemExit("no threshold known for these embeddings: pass --threshold")


def people_subset(names: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Row indices of about ``n`` faces: whole people in a seeded order (sorted indices)."""
    people, inverse = np.unique(names, return_inverse=True)
    rows: list[np.ndarray] = []
    total = 0
    for p in np.random.default_rng(seed).permutation(people.size):
        r = np.flatnonzero(inverse == p)
        rows.append(r)
        total += r.size
        if total >= n:
            break
    return np.sort(np.concatenate(rows))[:n]


def synthetic(x: np.ndarray, names: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
    """``n`` faces: a seeded sample of the real ones if ``n`` ≤ N, else the real faces plus
    rotated, noised copies (see the module docstring). Returns (x, truth, synthetic?)."""
    rng = np.random.default_rng(seed)
    if n <= len(x):
        pick = np.sort(rng.permutation(len(x))[:n])
        return x[pick], names[pick], False
    d = x.shape[1]
    parts, truth = [x], [names.astype(str)]
    copy = 1
    while sum(len(p) for p in parts) < n:
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))  # a random rotation of the whole set
        y = x @ q.T.astype(np.float32) + SYNTH_NOISE * rng.standard_normal(x.shape).astype(np.float32)
        parts.append(y / np.linalg.norm(y, axis=1, keepdims=True))
        truth.append(np.char.add(f"copy{copy}/", names.astype(str)))
        copy += 1
    return np.concatenate(parts)[:n].astype(np.float32), np.concatenate(truth)[:n], True


# ----------------------------------------------------------------------------------- measuring

def _status_mb(field: str) -> float | None:
    """A /proc/self/status memory line (VmRSS, VmHWM) in MB, or None off Linux."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def _reset_peak() -> tuple[float, str]:
    """Give freed heap back to the OS and restart the peak-RSS count here → (baseline MB, how).

    A fork starts with the parent's resident set, including heap the parent freed but kept:
    the child would reuse those pages without its peak RSS growing. ``malloc_trim`` returns
    them, and writing 5 to ``/proc/self/clear_refs`` resets the peak (VmHWM) to the current
    RSS (Linux ≥ 4.0). Without both, the growth of ``ru_maxrss`` is the fallback."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        rss = _status_mb("VmRSS")
        if rss is not None:
            return rss, "VmHWM"
    except (OSError, AttributeError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "ru_maxrss"


def _peak_mb(how: str) -> float:
    if how == "VmHWM":
        return _status_mb("VmHWM") or 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def measured(fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kw: Any) -> dict[str, Any]:
    """Run ``fn`` in a forked process: {"result", "seconds", "cpu_seconds", "peak_rss_mb",
    "memory_measure"} or {"error": ...}. ``peak_rss_mb``: how far the process's resident set
    rose above its size at the start of the call, at its peak (C/C++ memory included,
    unlike tracemalloc); see :func:`_reset_peak`."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            base, how = _reset_peak()
            c0, t0 = time.process_time(), time.perf_counter()
            out = fn(*args, **kw)
            stats = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                     "peak_rss_mb": _peak_mb(how) - base, "memory_measure": how}
            payload = pickle.dumps({"result": out, **stats})
        except BaseException as exc:  # report it to the parent; never return into its code
            payload = pickle.dumps({"error": f"{type(exc).__name__}: {exc}"})
        with os.fdopen(w, "wb") as f:
            f.write(payload)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        ready, _, _ = select.select([f], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"error": f"timeout after {timeout:.0f} s"}
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return {"error": f"child died (status {status}; out of memory?)"}
    return pickle.loads(data)


# ------------------------------------------------------------------------------------- methods

def ours(x: np.ndarray, threshold: float, method: str, k: int | None, **kw: Any) -> np.ndarray:
    return clustering.cluster_embeddings(x, threshold, method, k=k, **kw)  # type: ignore[arg-type]


def dlib_chinese_whispers(x: np.ndarray, threshold: float) -> np.ndarray:
    import dlib

    # dlib links i and j when length(a - b) < t (strictly; every pair, self included) and runs
    # unweighted Chinese whispers for 100 passes. On unit vectors |a - b|² = 2 - 2·cos, so
    # cos >= threshold ⇔ |a - b| <= sqrt(2 - 2·threshold): the next float up makes "<" say "<="
    # (dlib takes a C float, so the step is taken in float32).
    t = float(np.nextafter(np.float32(np.sqrt(max(2.0 - 2.0 * threshold, 0.0))), np.float32(np.inf)))
    vectors = [dlib.vector(row) for row in x.astype(np.float64).tolist()]
    return np.asarray(dlib.chinese_whispers_clustering(vectors, t), np.int64)


def sklearn_agglomerative(x: np.ndarray, threshold: float) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    # Merges while the average cosine distance is below 1 - threshold (average cosine above).
    return AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                   distance_threshold=1.0 - threshold).fit_predict(x.astype(np.float64))


def sklearn_hdbscan(x: np.ndarray, threshold: float) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    del threshold  # HDBSCAN chooses its own density levels
    # Euclidean on unit rows orders pairs exactly as cosine does, and uses a ball tree.
    return HDBSCAN(min_cluster_size=2, min_samples=1, copy=True).fit_predict(x.astype(np.float64))


def scaling_run(x: np.ndarray, threshold: float, method: str, k: int | None) -> dict[str, Any]:
    """Graph and clustering timed apart; then (untimed) the graph's recall against exact
    search on a sample of faces, when the graph was approximate."""
    k = clustering.METHOD_K[method] if k is None else k
    t0 = time.perf_counter()
    graph = clustering.knn_graph(x, k=k, threshold=threshold)
    t1 = time.perf_counter()
    labels = clustering.order_labels(clustering.cluster_graph(graph, x, threshold, method))
    t2 = time.perf_counter()
    out: dict[str, Any] = {"labels": labels, "graph_seconds": t1 - t0, "cluster_seconds": t2 - t1,
                           "exact": len(x) <= clustering.EXACT_MAX, "edges": graph.num_edges}
    if not out["exact"]:
        out["graph_recall"] = sampled_graph_recall(x, graph, k, threshold)
    return out


def sampled_graph_recall(x: np.ndarray, graph: clustering.KnnGraph, k: int, threshold: float) -> float:
    """Share of the exact kNN edges (above the threshold) of RECALL_SAMPLE faces that the graph has."""
    import faiss

    rows = np.random.default_rng(1).permutation(len(x))[:RECALL_SAMPLE]
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    scores, ids = index.search(x[rows], k + 1)
    have = set((graph.rows * graph.n + graph.cols).tolist())
    want = [int(i) * graph.n + int(j) for i, js, ss in zip(rows, ids, scores)
            for j, s in zip(js, ss) if j != i and j >= 0 and s >= threshold]
    return sum(w in have for w in want) / max(len(want), 1)


def sweep(x: np.ndarray, names: np.ndarray, thresholds: Sequence[float], methods: Sequence[str],
          k: int | None) -> list[dict]:
    rows = []
    for thr in thresholds:
        for m in methods:
            s = cluster_scores(names, clustering.cluster_embeddings(x, thr, m, k=k))
            rows.append({"threshold": round(float(thr), 4), "method": m, "pairwise_f1": s.pairwise_f1,
                         "bcubed_f1": s.bcubed_f1, "clusters": s.n_clusters})
    return rows


# -------------------------------------------------------------------------------------- report

def score_row(name: str, names: np.ndarray, run: dict[str, Any], note: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {"method": name, "faces": int(len(names)), "note": note}
    if "error" in run:
        row["error"] = run["error"]
        log.warning("%s: %s", name, run["error"])
        return row
    result = run["result"]
    labels = result["labels"] if isinstance(result, dict) else result
    row.update(cluster_scores(names, np.asarray(labels)).to_dict())
    row.update({k: round(float(run[k]), 3) for k in ("seconds", "cpu_seconds", "peak_rss_mb")})
    if isinstance(result, dict):
        row.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items() if k != "labels"})
    return row


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    head = (f"{'method':34s} {'faces':>7s} | {'pair P':>6s} {'R':>6s} {'F1':>6s} | {'B³ P':>6s} {'R':>6s} {'F1':>6s}"
            f" | {'clusters':>8s} {'true':>6s} | {'time s':>7s} {'cpu s':>7s} {'peak MB':>8s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['method']:34s} {r['faces']:7d} | {r['error']}")
            continue
        print(f"{r['method']:34s} {r['faces']:7d} | {r['pairwise_precision']:6.3f} {r['pairwise_recall']:6.3f} "
              f"{r['pairwise_f1']:6.3f} | {r['bcubed_precision']:6.3f} {r['bcubed_recall']:6.3f} "
              f"{r['bcubed_f1']:6.3f} | "
              f"{r['n_clusters']:8d} {r['n_true_clusters']:6d} | {r['seconds']:7.2f} {r['cpu_seconds']:7.2f} "
              f"{r['peak_rss_mb']:8.1f}" + (f"  {r['note']}" if r.get("note") else ""))


def environment() -> dict[str, Any]:
    import faiss

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu or platform.processor(), "cpus_allowed": len(os.sched_getaffinity(0)),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "faiss": faiss.__version__,
            "faiss_threads": faiss.omp_get_max_threads(), "python": platform.python_version(),
            "memory_measure": "peak resident set above the start of the call, in a process forked per "
                              "run (MB): VmHWM after clearing it (/proc/self/clear_refs), else ru_maxrss growth"}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cluster_lfw", description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--embeddings", help="an .npz with arrays embeddings (N, D) and labels (N,): skip the model")
    src.add_argument("--weights", help="model file (default: the default model)")
    src.add_argument("--model", help="registry model name (default: the default model)")
    ap.add_argument("--quick", action="store_true", help=f"a {QUICK_PHOTOS}-photo subset of whole people")
    ap.add_argument("--photos", type=int, default=None, help="a subset of this many photos (whole people)")
    ap.add_argument("--save-embeddings", metavar="FILE.npz", help="write the embeddings, names and thresholds")
    ap.add_argument("--cache",
                    help="embedding cache folder (default: <cache root>/embeddings; cache root: $FACEREC_CACHE_DIR, "
                         "else ~/.cache/facerec)")
    ap.add_argument("--threshold", type=float, default=None, help="cosine threshold (default: see --threshold-from)")
    ap.add_argument("--threshold-from", choices=("search", "verification"), default="search",
                    help="which of the model's calibrated thresholds to use without --threshold")
    ap.add_argument("--k", type=int, default=None,
                    help="neighbours per face in the graph (default: each method's, facerec.clustering.METHOD_K)")
    ap.add_argument("--sizes", type=int, nargs="*", default=None,
                    help="scaling table sizes (default 1000 10000 100000; with --quick 1000 10000)")
    ap.add_argument("--reference-max", type=int, default=13233,
                    help="scikit-learn methods run on a subset of whole people above this many faces")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a run is abandoned")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=("dlib", "hdbscan", "agglomerative", "scaling", "sweep"), help="parts to leave out")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="JSON results path")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.embeddings:
        data = load_npz(args.embeddings)
    else:
        # In a forked process, so this one stays small for the measured runs that follow
        # (and never starts the model's thread pools before forking them).
        got = measured(embed_lfw, args)
        if "error" in got:
            raise SystemExit(f"embedding LFW failed: {got['error']}")
        data = got["result"]
    if args.embeddings and (args.quick or args.photos):
        keep = people_subset(data.names, QUICK_PHOTOS if args.quick else args.photos)
        data.embeddings, data.names = data.embeddings[keep], data.names[keep]
    threshold, threshold_source = choose_threshold(args, data)
    if args.save_embeddings:
        save_npz(args.save_embeddings, data, threshold)
    x, names = np.ascontiguousarray(data.embeddings, np.float32), data.names
    n_people = len(np.unique(names))
    print(f"{len(x)} faces of {n_people} people, {x.shape[1]}-d, from {data.source}; model {data.model}; "
          f"threshold {threshold:.4f} ({threshold_source}); "
          f"k={args.k or 'per method ' + json.dumps(clustering.METHOD_K)}")
    run = lambda fn, *a, **kw: measured(fn, *a, timeout=args.timeout, **kw)  # noqa: E731

    rows = [
        score_row(f"facerec {DEFAULT_METHOD} (default)", names, run(ours, x, threshold, DEFAULT_METHOD, args.k)),
        score_row("facerec chinese_whispers", names, run(ours, x, threshold, "chinese_whispers", args.k)),
        score_row("facerec components", names, run(ours, x, threshold, "components", args.k)),
        score_row("facerec components, mutual kNN", names,
                  run(ours, x, threshold, "components", args.k, mutual=True)),
    ]
    if "dlib" not in args.skip:
        try:
            import dlib  # noqa: F401

            rows.append(score_row("dlib chinese_whispers_clustering", names, run(dlib_chinese_whispers, x, threshold)))
        except ImportError:
            rows.append({"method": "dlib chinese_whispers_clustering", "faces": len(x),
                         "error": "dlib not installed (pip install 'facerec[bench]')"})
    refs = [(n, f) for n, f in (("agglomerative", sklearn_agglomerative), ("hdbscan", sklearn_hdbscan))
            if n not in args.skip]
    if refs:
        sub = np.arange(len(x)) if len(x) <= args.reference_max else people_subset(names, args.reference_max)
        note = "" if sub.size == len(x) else f"subset: {sub.size} faces, whole people"
        xs, ns = x[sub], names[sub]
        if note:
            rows.append(score_row(f"facerec {DEFAULT_METHOD} (same subset)", ns,
                                  run(ours, xs, threshold, DEFAULT_METHOD, args.k), note))
        labels = {"agglomerative": "sklearn Agglomerative average", "hdbscan": "sklearn HDBSCAN"}
        for name, fn in refs:
            rows.append(score_row(labels[name], ns, run(fn, xs, threshold), note))
    print_table(f"Clustering {len(x)} LFW faces ({n_people} people), threshold {threshold:.4f}", rows)

    scaling: list[dict[str, Any]] = []
    if "scaling" not in args.skip:
        for n in args.sizes if args.sizes is not None else [1000, 10000] + ([] if args.quick else [100000]):
            xs, ns, synth = synthetic(x, names, n)
            r = score_row(f"facerec {DEFAULT_METHOD}", ns, run(scaling_run, xs, threshold, DEFAULT_METHOD, args.k),
                          "synthetic: rotated+noised copies of LFW" if synth else "real LFW faces")
            r["synthetic"] = synth
            scaling.append(r)
        print_table("Scaling (graph + clustering; columns as above)", scaling)
        for r in scaling:
            if "error" not in r:
                extra = f", graph recall vs exact {r['graph_recall']:.4f}" if "graph_recall" in r else ""
                kind = "exact" if r["exact"] else "approximate"
                print(f"  {r['faces']:7d} faces: graph {r['graph_seconds']:.2f} s ({kind}"
                      f"{extra}), clustering {r['cluster_seconds']:.2f} s, {r['edges']} edges")

    sweep_rows: list[dict[str, Any]] = []
    if "sweep" not in args.skip:
        grid = sorted({round(t, 4) for t in [threshold, *(v for v in (data.verification_threshold,
                                                                      data.search_threshold) if v is not None),
                                            0.3, 0.35, 0.4, 0.45, 0.5, 0.55]})
        res = run(sweep, x, names, grid, ["average", "chinese_whispers", "components"], args.k)
        if "error" in res:
            log.warning("sweep: %s", res["error"])
        else:
            sweep_rows = res["result"]
            print("\nThreshold sweep (pairwise F1 / BCubed F1 / clusters)")
            by_thr: dict[float, list[dict]] = {}
            for r in sweep_rows:
                by_thr.setdefault(r["threshold"], []).append(r)
            marks = {data.verification_threshold: "verification", data.search_threshold: "search"}
            for thr, rs in by_thr.items():
                mark = next((v for k_, v in marks.items() if k_ is not None and round(k_, 4) == thr), "")
                cells = "  ".join(f"{r['method']:>16s} {r['pairwise_f1']:.3f}/{r['bcubed_f1']:.3f}/{r['clusters']:5d}"
                                  for r in rs)
                print(f"  {thr:.4f} {mark:12s} {cells}")

    command = " ".join(["python -m benchmarks.cluster_lfw", *(argv or sys.argv[1:])])
    out = {"benchmark": "cluster_lfw", "command": command,
           "data": data.source, "faces": len(x), "people": n_people, "dim": int(x.shape[1]), "model": data.model,
           "threshold": threshold, "threshold_source": threshold_source,
           "verification_threshold": data.verification_threshold, "search_threshold": data.search_threshold,
           "k": args.k or clustering.METHOD_K, "default_method": DEFAULT_METHOD, "exact_max": clustering.EXACT_MAX,
           "environment": environment(), "embedding": data.info, "methods": rows, "scaling": scaling,
           "sweep": sweep_rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
