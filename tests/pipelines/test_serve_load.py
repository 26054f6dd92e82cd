"""A bounded load test of the real `facerec serve` process on a loopback port.

8 concurrent clients for ``$FACEREC_SERVE_LOAD_SECONDS`` (default 20) seconds mix verify,
search, list and enroll; then the server is killed with SIGKILL (no shutdown at all) and
restarted. Must hold: zero errors, and the gallery holds exactly the enrollments that were
acknowledged — counted by the clients, by the server's own /metrics, after a restart
(a new service over the same folder) through the API, and on disk through the library.
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
from fastapi.testclient import TestClient  # noqa: E402

from facerec import FaceRecognizer  # noqa: E402
from facerec.client import FaceRecognitionClient  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from pipelines.serve import ServeConfig, create_app  # noqa: E402
from pipelines.serve.auth import hash_key  # noqa: E402
from pipelines.serve.server import ServerProcess  # noqa: E402

KEY = "load-test-key"
CLIENTS = 8
DURATION = float(os.environ.get("FACEREC_SERVE_LOAD_SECONDS", "20"))


def _enroll_200s(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if (line.startswith("facerec_http_requests_total{") and 'method="POST"' in line
                and "/identities/{identity:path}" in line and 'status="200"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_mixed_load_no_errors_no_lost_enrollments(random_model: Path, lfw_dir: Path, tmp_path: Path) -> None:
    photos = [lfw_dir / p / f"{p}_000{i}.jpg" for p in ("Colin_Powell", "Tony_Blair") for i in range(1, 7)]
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# load test\n{hash_key(KEY)}\n")
    root = tmp_path / "galleries"
    args = ["--gallery", str(root), "--weights", str(random_model), "--api-keys", str(keys), "--workers", "2"]
    server = ServerProcess(args, tmp_path / "server.log")
    url = server.start()
    ops: Counter[str] = Counter()
    errors: list[str] = []
    enrolled: list[str] = []
    lock = threading.Lock()
    try:
        FaceRecognitionClient(url, api_key=KEY, gallery="load").enroll("seed", photos[0])
        deadline = time.monotonic() + DURATION

        def worker(t: int) -> None:
            client = FaceRecognitionClient(url, api_key=KEY, gallery="load", timeout=120)
            i = 0
            while time.monotonic() < deadline:
                op = ("verify", "search", "enroll", "list")[(t + i) % 4]
                a, b = photos[(t * 3 + i) % len(photos)], photos[(t * 5 + i + 1) % len(photos)]
                try:
                    if op == "verify":
                        res = client.verify(a, b)
                        assert -1.0001 <= res.score <= 1.0001
                    elif op == "search":
                        hits = client.search(a, k=3)
                        assert len(hits) == 1 and hits[0].matches
                    elif op == "enroll":
                        name = f"client{t}-{i}"
                        assert client.enroll(name, a) == 1
                        with lock:
                            enrolled.append(name)
                    else:
                        people = client._listing()  # one consistent snapshot: counts agree
                        assert people["identities"] == len(people["people"])
                        assert people["templates"] == sum(p["num_templates"] for p in people["people"])
                    with lock:
                        ops[op] += 1
                except Exception as exc:  # noqa: BLE001 - every failure is a finding
                    with lock:
                        errors.append(f"{op}: {type(exc).__name__}: {exc}")
                i += 1

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(CLIENTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        metrics = FaceRecognitionClient(url)._session.get(url + "/metrics", timeout=30).text
    finally:
        server.kill()  # SIGKILL: no graceful shutdown, nothing flushed at exit
    assert not errors, errors[:5]
    assert all(ops[o] > 0 for o in ("verify", "search", "enroll", "list")), ops
    assert len(set(enrolled)) == len(enrolled)
    assert _enroll_200s(metrics) == len(enrolled) + 1  # the server acknowledged exactly these
    print(f"load: {dict(ops)} in {DURATION:g} s with {CLIENTS} clients")

    # The restart: a new service over the folder the killed process left.
    app = create_app(ServeConfig(gallery_dir=root), FaceRecognizer.load(random_model))
    listing = TestClient(app).get("/v1/galleries/load/identities").json()
    assert sorted(p["name"] for p in listing["people"]) == sorted(["seed", *enrolled])
    on_disk = Gallery.load(root / "load")
    assert len(on_disk) == len(enrolled) + 1 and on_disk.num_templates == len(enrolled) + 1
