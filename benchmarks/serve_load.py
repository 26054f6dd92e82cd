"""`facerec serve` under load: requests/s and p50/p99 latency for verify and search at 1, 4
and 16 concurrent clients, against calling the Python API directly, in one run.

    python -m benchmarks.serve_load [--model NAME | --weights W] [--seconds 10] [--workers N] [--identities 50]

The server is the real ``facerec serve`` in a child process on a loopback port; clients are
threads using :class:`facerec.client.FaceRecognitionClient` (so client-side encoding counts
as service cost). The direct baseline calls ``FaceRecognizer.verify`` / ``Gallery.search`` in
this process, one call at a time, with torch's threads set as the server sets them for one
inference (cores // workers), so the difference at concurrency 1 is the service's overhead
(HTTP, multipart, upload sniffing, JSON, thread hand-offs); a ``/healthz`` row shows the
bare HTTP round trip. Photos: single-face LFW images;
the gallery: ``--identities`` LFW people, one photo each. Default model: the default named model
(``facerec models``); ``--weights`` runs a file instead.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from facerec import FaceRecognizer
from facerec.client import FaceRecognitionClient
from facerec.gallery import Gallery
from facerec.models import choose_model
from pipelines.paths import data_dir
from pipelines.serve.auth import hash_key
from pipelines.serve.config import cpu_cores, default_workers
from pipelines.serve.server import ServerProcess

DATA = data_dir()
KEY = "benchmark-key"


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run_for(seconds: float, clients: int, call: Callable[[int, int], None]) -> dict[str, float]:
    """``clients`` threads calling ``call(thread, i)`` until ``seconds`` pass; latency in ms."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(t: int) -> None:
        i, mine, bad = 0, [], 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                call(t, i)
                mine.append((time.perf_counter() - t0) * 1000)
            except Exception:  # noqa: BLE001 - counted, reported
                bad += 1
            i += 1
        with lock:
            lat.extend(mine)
            errors[0] += bad

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    return {"requests": len(lat), "errors": errors[0], "rps": len(lat) / wall,
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "mean_ms": statistics.fmean(lat) if lat else float("nan")}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="named model (default: the default model; see facerec models)")
    ap.add_argument("--weights", help="model file instead of a named model")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--workers", type=int, default=default_workers(), help="server inference threads")
    ap.add_argument("--identities", type=int, default=50, help="gallery size")
    ap.add_argument("--out", default="out/serve_load.json")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="serve_load_"))
    if args.weights:
        choice, model = ["--weights", args.weights], args.weights
    else:
        model = choose_model(args.model)
        choice = ["--model", model]
    threads = max(1, cpu_cores() // args.workers)
    torch.set_num_threads(threads)

    people = sorted(p for p in (DATA / "lfw").iterdir() if p.is_dir())
    photos = [p / f"{p.name}_0001.jpg" for p in people[:: max(1, len(people) // 400)]][:40]
    rec = FaceRecognizer.load(args.weights, model=None if args.weights else model)
    gallery = Gallery(rec)
    enrolled = 0
    for p in people:
        if enrolled == args.identities:
            break
        try:
            gallery.enroll(p.name, str(p / f"{p.name}_0001.jpg"))
            enrolled += 1
        except Exception:  # noqa: BLE001 - a photo with no / several faces: take the next person
            pass
    gallery.save(work / "galleries" / "bench")
    photos = [x for x in photos if len(rec.detect(x)) == 1][:20]
    pairs = [(photos[i], photos[(i + 1) % len(photos)]) for i in range(len(photos))]

    rows = []
    load0 = os.getloadavg()[0]
    print(f"serve_load: model {model}, {len(photos)} LFW photos (250x250), gallery of {enrolled} identities, "
          f"server workers {args.workers} x torch threads {threads}, {args.seconds:g} s per row, "
          f"{cpu_cores()} cores, load average at start {load0:.1f}")
    # Direct Python API, one call at a time (warm-up first).
    rec.verify(*pairs[0])
    gallery.search(photos[0], k=5)
    rows.append({"op": "verify", "mode": "python", "clients": 1,
                 **run_for(args.seconds, 1, lambda t, i: rec.verify(*pairs[i % len(pairs)]))})
    rows.append({"op": "search", "mode": "python", "clients": 1,
                 **run_for(args.seconds, 1, lambda t, i: gallery.search(photos[i % len(photos)], k=5))})

    keys = work / "keys.txt"
    keys.write_text(hash_key(KEY) + "\n")
    server = ServerProcess(["--gallery", str(work / "galleries"), *choice, "--api-keys", str(keys),
                            "--workers", str(args.workers)], work / "server.log")
    url = server.start()
    try:
        floor = FaceRecognitionClient(url)  # the HTTP floor: a request that runs no model
        rows.append({"op": "healthz", "mode": "http", "clients": 1,
                     **run_for(min(args.seconds, 3.0), 1, lambda t, i: floor.health())})
        for n in args.clients:
            clients = [FaceRecognitionClient(url, gallery="bench", timeout=300) for _ in range(n)]
            clients[0].verify(*pairs[0])  # warm-up
            rows.append({"op": "verify", "mode": "http", "clients": n, **run_for(
                args.seconds, n, lambda t, i: clients[t].verify(*pairs[(t * 7 + i) % len(pairs)]))})
            rows.append({"op": "search", "mode": "http", "clients": n, **run_for(
                args.seconds, n, lambda t, i: clients[t].search(photos[(t * 7 + i) % len(photos)], k=5))})
    finally:
        server.stop()

    print(f"{'op':<7} {'mode':<7} {'clients':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'requests':>8} {'errors':>6}")
    for r in rows:
        print(f"{r['op']:<7} {r['mode']:<7} {r['clients']:>7} {r['rps']:>7.1f} {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['requests']:>8} {r['errors']:>6}")
    overhead = {}
    for op in ("verify", "search"):
        py = next(r for r in rows if r["op"] == op and r["mode"] == "python")
        http = next((r for r in rows if r["op"] == op and r["mode"] == "http" and r["clients"] == 1), None)
        if http:
            overhead[op] = {"p50_ms": http["p50_ms"] - py["p50_ms"], "ratio": http["p50_ms"] / py["p50_ms"]}
            print(f"service overhead, {op}, 1 client: {overhead[op]['p50_ms']:+.1f} ms at p50 "
                  f"({overhead[op]['ratio']:.2f}x the direct call)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": model, "workers": args.workers, "torch_threads": threads,
                               "seconds": args.seconds, "identities": enrolled, "load_average_start": load0,
                               "load_average_end": os.getloadavg()[0], "rows": rows, "overhead": overhead},
                              indent=1))
    print(f"load average at end {os.getloadavg()[0]:.1f}; JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
