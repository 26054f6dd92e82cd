"""`facerec serve` under a burst of maximum-size uploads: the service's peak memory and a small
verify request's latency, idle and during the burst, in one run.

    python -m benchmarks.serve_burst --big PHOTO_48MP.jpg [--burst 20] [--workers 2] [--keys 1]

The server is the real ``facerec serve`` in a child process on a loopback port (default limits:
``--max-pixels-in-flight`` per client and ``--max-pixels-in-flight-total``). ``--burst``
threads each POST ``/v1/detect`` with the big photo at once (one client, or spread over
``--keys`` API keys); meanwhile one client verifies two single-face LFW photos (a small request)
in a loop. The server's RSS is read from ``/proc/PID/status`` every 20 ms. Reported: answers
of the burst (200 / 429 / other), the server's peak RSS (and its RSS when idle before), and the
verify latency idle (median of 10) vs during the burst (median and max).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

import httpx

from pipelines.paths import data_dir
from pipelines.serve.auth import hash_key
from pipelines.serve.config import default_workers
from pipelines.serve.server import ServerProcess

from .machine import cpu_model

DATA = data_dir()
PAIR = ("George_W_Bush/George_W_Bush_0001.jpg", "George_W_Bush/George_W_Bush_0002.jpg")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=Path, required=True, help="the maximum-size upload (a 48 MP JPEG)")
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--keys", type=int, default=1, help="spread the burst over this many API keys")
    ap.add_argument("--workers", type=int, default=default_workers(), help="the server's big-request workers")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "serve_burst.json")
    args = ap.parse_args(argv)
    big = args.big.read_bytes()
    a, b = ((DATA / "lfw" / p).read_bytes() for p in PAIR)
    keys = [f"burst-key-{i}" for i in range(args.keys)]
    with tempfile.TemporaryDirectory() as tmp:
        kf = Path(tmp) / "keys"
        kf.write_text("".join(hash_key(k) + "\n" for k in keys))
        server = ServerProcess(["--gallery", str(Path(tmp) / "g"), "--api-keys", str(kf), "--workers",
                                str(args.workers)], Path(tmp) / "server.log")
        url = server.start()
        assert server.proc is not None
        pid = server.proc.pid
        try:
            client = httpx.Client(base_url=url, timeout=300)

            def verify() -> float:
                t = time.perf_counter()
                r = client.post("/v1/verify", files={"image_a": ("a.jpg", a), "image_b": ("b.jpg", b)})
                r.raise_for_status()
                return time.perf_counter() - t

            verify()  # warm-up (models open)
            idle = [verify() for _ in range(10)]
            rss_idle = rss_mb(pid)
            peak = [rss_idle]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak.append(rss_mb(pid))
                    time.sleep(0.02)

            codes: list[int] = []
            lock = threading.Lock()

            def upload(i: int) -> None:
                with httpx.Client(base_url=url, timeout=600) as c:
                    r = c.post("/v1/detect", files={"image": ("big.jpg", big)},
                               headers={"X-API-Key": keys[i % len(keys)]})
                with lock:
                    codes.append(r.status_code)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            threads = [threading.Thread(target=upload, args=(i,)) for i in range(args.burst)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            during: list[float] = []
            time.sleep(0.2)  # the uploads are in
            while any(t.is_alive() for t in threads):
                during.append(verify())
            for t in threads:
                t.join()
            burst_s = time.perf_counter() - t0
            stop.set()
            sampler.join()
            peak_rss = max(peak)
        finally:
            server.stop()
    doc = {"cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"), "big_photo": args.big.name,
           "big_bytes": len(big), "burst": args.burst, "keys": args.keys, "workers": args.workers,
           "answers": {str(c): codes.count(c) for c in sorted(set(codes))}, "burst_seconds": round(burst_s, 2),
           "rss_idle_mb": round(rss_idle), "rss_peak_mb": round(peak_rss),
           "verify_idle_ms_median": round(1000 * statistics.median(idle), 1),
           "verify_during_ms_median": round(1000 * statistics.median(during), 1) if during else None,
           "verify_during_ms_max": round(1000 * max(during), 1) if during else None, "verify_during_n": len(during),
           "command": "python -m benchmarks.serve_burst --big .../" + args.big.name + f" --workers {args.workers}"}
    print(json.dumps(doc, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
