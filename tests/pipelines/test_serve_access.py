"""`facerec serve` facing the network: which routes need a key, and the per-client limits.

Oracles: the access rule written out as a table here (not derived from the code); the answers
of an unrestricted loopback service for the same photos; pixel counts measured with PIL on the
images the test made, and the admissions they imply simulated here; an injected clock, so the
token bucket's waits are exact arithmetic instead of sleeps.
"""
from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
import requests  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from facerec import FaceRecognizer  # noqa: E402
from pipelines import cli  # noqa: E402
from pipelines.serve import ServeConfig, create_app  # noqa: E402
from pipelines.serve.auth import hash_key, key_required  # noqa: E402
from pipelines.serve.deps import ServiceState  # noqa: E402
from pipelines.serve.quota import PixelBudget, QuotaExceeded, Rate  # noqa: E402
from pipelines.serve.server import serve_in_thread  # noqa: E402

KEY, OTHER = "access-test-key-0123", "access-test-other-4567"
HASHES = frozenset({hash_key(KEY), hash_key(OTHER)})


@pytest.fixture(scope="module")
def recognizer(random_model: Path) -> FaceRecognizer:
    return FaceRecognizer.load(random_model)


def jpeg(path: Path, size: tuple[int, int] | None = None) -> bytes:
    im = Image.open(path).convert("RGB")
    if size is not None:
        im = im.resize(size)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def app_client(recognizer: FaceRecognizer, root: Path, **cfg) -> TestClient:
    clock = cfg.pop("clock", time.monotonic)
    config = ServeConfig(gallery_dir=root, **{"api_key_hashes": HASHES, "workers": 2, **cfg})
    return TestClient(create_app(config, recognizer, clock=clock), raise_server_exceptions=False)


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body


def reads(client: TestClient, photo: bytes, headers: dict) -> dict[str, int]:
    """Status of every read route (gallery 'g' exists)."""
    return {
        "detect": client.post("/v1/detect", files={"image": ("a.jpg", photo)}, headers=headers).status_code,
        "verify": client.post("/v1/verify", files={"image_a": ("a.jpg", photo), "image_b": ("b.jpg", photo)},
                              headers=headers).status_code,
        "search": client.post("/v1/galleries/g/search", files={"image": ("a.jpg", photo)},
                              headers=headers).status_code,
        "identities": client.get("/v1/galleries/g/identities", headers=headers).status_code,
        "galleries": client.get("/v1/galleries", headers=headers).status_code,
    }


def enroll(client: TestClient, photo: bytes, headers: dict, who: str = "Aaron"):
    return client.post(f"/v1/galleries/g/identities/{who}", files={"images": ("a.jpg", photo)}, headers=headers)


# -- the access rule ------------------------------------------------------------------------------
@pytest.mark.parametrize("host,auth,open_reads,read,write", [
    # host          auth   --open-reads  read needs key  write needs key
    ("127.0.0.1",   True,  False,        False,          True),
    ("localhost",   True,  False,        False,          True),
    ("::1",         True,  False,        False,          True),
    ("0.0.0.0",     True,  False,        True,           True),
    ("192.168.1.5", True,  False,        True,           True),
    ("::",          True,  False,        True,           True),
    ("0.0.0.0",     True,  True,         False,          True),
    ("127.0.0.1",   True,  True,         False,          True),
    ("0.0.0.0",     False, False,        False,          False),
    ("127.0.0.1",   False, False,        False,          False),
])
def test_access_rule_table(tmp_path: Path, host: str, auth: bool, open_reads: bool, read: bool, write: bool) -> None:
    config = ServeConfig(gallery_dir=tmp_path, host=host, auth=auth, open_reads=open_reads,
                         api_key_hashes=HASHES if auth else frozenset())
    assert key_required(config, write=False) is read
    assert key_required(config, write=True) is write


def test_network_host_without_keys_refuses_to_start(tmp_path: Path, capsys) -> None:
    with pytest.raises(ValueError, match="--api-keys FILE, or --open-reads"):
        ServeConfig(gallery_dir=tmp_path, host="0.0.0.0")
    # Each way out is accepted: keys, reads opened on purpose, or auth off.
    ServeConfig(gallery_dir=tmp_path, host="0.0.0.0", api_key_hashes=HASHES)
    ServeConfig(gallery_dir=tmp_path, host="0.0.0.0", open_reads=True)
    ServeConfig(gallery_dir=tmp_path, host="0.0.0.0", auth=False)
    # The CLI says it in one line and exits 2, before loading any model.
    assert cli.main(["serve", "--gallery", str(tmp_path), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--host 0.0.0.0" in err and "Traceback" not in err, err


def test_network_host_needs_a_key_on_every_route(recognizer: FaceRecognizer, aaron: Path, tmp_path: Path) -> None:
    photo = aaron.read_bytes()
    local = app_client(recognizer, tmp_path / "local")  # loopback: the answers an open read gives
    assert enroll(local, photo, {"X-API-Key": KEY}).status_code == 200
    client = app_client(recognizer, tmp_path / "local", host="0.0.0.0")  # same galleries, on the network
    assert client.get("/healthz").json()["reads_need_key"] is True
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        assert set(reads(client, photo, headers).values()) == {401}, headers
        assert_error(enroll(client, photo, headers, "B"), 401, "unauthorized")
    resp = client.post("/v1/detect", files={"image": ("a.jpg", photo)})
    body = assert_error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"] == "Bearer" and "API key" in body["error"]["message"]
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {OTHER}"}):
        assert set(reads(client, photo, headers).values()) == {200}, headers
    got = client.post("/v1/detect", files={"image": ("a.jpg", photo)}, headers={"X-API-Key": KEY}).json()
    assert got == local.post("/v1/detect", files={"image": ("a.jpg", photo)}).json()
    assert enroll(client, photo, {"X-API-Key": KEY}, "B").status_code == 200
    # Health, metrics, docs and the page stay open: they never list who is enrolled.
    for path in ("/healthz", "/metrics", "/docs", "/openapi.json", "/"):
        assert client.get(path).status_code == 200, path
    assert "Aaron" not in client.get("/healthz").text and "Aaron" not in client.get("/metrics").text


def test_open_reads_opens_reads_not_writes(recognizer: FaceRecognizer, aaron: Path, tmp_path: Path) -> None:
    photo = aaron.read_bytes()
    client = app_client(recognizer, tmp_path / "g", host="0.0.0.0", open_reads=True)
    assert enroll(client, photo, {"X-API-Key": KEY}).status_code == 200
    assert client.get("/healthz").json()["reads_need_key"] is False
    assert set(reads(client, photo, {}).values()) == {200}
    assert_error(enroll(client, photo, {}, "B"), 401, "unauthorized")
    assert_error(client.delete("/v1/galleries/g/identities/Aaron"), 401, "unauthorized")
    # Without any keys: reads only, writes refused.
    keyless = app_client(recognizer, tmp_path / "g", host="0.0.0.0", open_reads=True, api_key_hashes=frozenset())
    assert set(reads(keyless, photo, {}).values()) == {200}
    body = assert_error(enroll(keyless, photo, {"X-API-Key": KEY}, "C"), 401, "unauthorized")
    assert "--api-keys" in body["error"]["message"]


def test_loopback_default_unchanged(recognizer: FaceRecognizer, aaron: Path, tmp_path: Path) -> None:
    photo = aaron.read_bytes()
    client = app_client(recognizer, tmp_path / "g")  # default host 127.0.0.1
    assert_error(enroll(client, photo, {}), 401, "unauthorized")
    assert enroll(client, photo, {"X-API-Key": KEY}).status_code == 200
    assert set(reads(client, photo, {}).values()) == {200}
    assert set(reads(client, photo, {"X-API-Key": "a wrong key is ignored where none is needed"}).values()) == {200}
    h = client.get("/healthz").json()
    assert h["reads_need_key"] is False and h["rate"] == "100/s"


def test_openapi_security_and_limit_responses(recognizer: FaceRecognizer, tmp_path: Path) -> None:
    keyed = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    writes = {("/v1/galleries/{name}/identities/{identity}", "post"),
              ("/v1/galleries/{name}/identities/{identity}", "delete")}

    def security(**cfg) -> dict[tuple[str, str], list | None]:
        doc = app_client(recognizer, tmp_path / "g", **cfg).get("/openapi.json").json()
        out = {}
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                if path.startswith("/v1/"):
                    assert {"401", "429", "500"} <= set(op["responses"]), (path, method)
                    retry = op["responses"]["429"]["headers"]["Retry-After"]
                    assert retry["required"] is True and retry["schema"]["type"] == "integer"
                    out[(path, method)] = op.get("security")
                else:
                    assert "security" not in op, (path, method)
        return out

    network = security(host="0.0.0.0")
    assert len(network) == 7 and all(sec == keyed for sec in network.values())
    loopback = security()
    assert all(sec == (keyed if op in writes else [{}, *keyed]) for op, sec in loopback.items())
    assert security(host="0.0.0.0", open_reads=True) == loopback
    assert all(sec is None for sec in security(auth=False, api_key_hashes=frozenset()).values())


# -- request rate ---------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after_and_recovers(recognizer: FaceRecognizer, tmp_path: Path) -> None:
    now = [1000.0]
    client = app_client(recognizer, tmp_path / "g", rate=Rate(3, 60.0), clock=lambda: now[0])
    seconds_per_request = 60.0 / 3  # 3/m: one request's worth comes back every 20 s
    for _ in range(3):  # the burst
        assert client.get("/v1/galleries").status_code == 200
    resp = client.get("/v1/galleries")
    assert_error(resp, 429, "too_many_requests")
    assert resp.headers["Retry-After"] == str(int(seconds_per_request))
    now[0] += 15.5
    resp = client.get("/v1/galleries")
    assert_error(resp, 429, "too_many_requests")
    assert resp.headers["Retry-After"] == "5"  # ceil(20 - 15.5)
    # Other clients have their own buckets (a key counts apart from the peer's IP), and
    # /healthz is never limited.
    assert client.get("/v1/galleries", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/healthz").status_code == 200
    now[0] += 4.5  # the 20 s have passed: one request, then refused again
    assert client.get("/v1/galleries").status_code == 200
    assert client.get("/v1/galleries").headers["Retry-After"] == "20"
    now[0] += 60.0  # a full period refills the burst, never more
    assert [client.get("/v1/galleries").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_rate_parsing() -> None:
    assert Rate.parse("100/s") == Rate(100, 1.0) and Rate.parse("600/m") == Rate(600, 60.0)
    assert Rate.parse("5000/h") == Rate(5000, 3600.0) and Rate.parse("off") is None
    assert str(Rate(600, 60.0)) == "600/m"
    for bad in ("100", "0/s", "5/q", "-1/s"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


# -- pixels in flight -----------------------------------------------------------------------------
class Gate:
    """Holds every upload's decoding until opened, so requests overlap deterministically."""

    def __init__(self, monkeypatch) -> None:
        self.event = threading.Event()
        real = ServiceState.decode

        def decode(state, data, filename):
            assert self.event.wait(60), "gate never opened"
            return real(state, data, filename)
        monkeypatch.setattr(ServiceState, "decode", decode)

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc: object) -> None:
        self.event.set()  # never leave a request waiting (a failed assertion) when the server stops


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def launch(url: str, path: str, files: list, key: str, results: dict, name: str) -> threading.Thread:
    def go() -> None:
        results[name] = requests.post(url + path, files=files, headers={"X-API-Key": key}, timeout=120)
    t = threading.Thread(target=go)
    t.start()
    return t


def send_in_order(url: str, state: ServiceState, jobs: list[tuple[str, str, list, str]]) -> dict:
    """Start each request once the previous one was admitted (its pixels held) or answered,
    so the order of admissions is the order of ``jobs``."""
    results: dict = {}
    threads = []
    for name, path, files, key in jobs:
        before = state.pixels.in_flight()
        threads.append(launch(url, path, files, key, results, name))
        wait_for(lambda: name in results or state.pixels.in_flight() != before)
    return results, threads


def test_pixels_in_flight_per_client(recognizer: FaceRecognizer, aaron: Path, tmp_path: Path, monkeypatch) -> None:
    sizes = {"A": (250, 250), "B": (250, 200), "C": (200, 200), "D": (150, 150), "E": (120, 120), "F": (100, 100)}
    photos = {n: jpeg(aaron, s) for n, s in sizes.items()}
    pixels = {n: (lambda im: im.width * im.height)(Image.open(io.BytesIO(b))) for n, b in photos.items()}
    budget = 150_000
    # The admissions an exact per-client budget implies, in this order (C does not fit, D and E
    # still do, F does not): simulated here from PIL's sizes.
    held, expect_admitted = 0, set()
    for n in sizes:
        if held + pixels[n] <= budget:
            held += pixels[n]
            expect_admitted.add(n)
    assert expect_admitted == {"A", "B", "D", "E"}

    config = ServeConfig(gallery_dir=tmp_path, api_key_hashes=HASHES, workers=2, max_pixels=62_500,
                         max_pixels_in_flight=budget, max_pixels_in_flight_total=10 * budget)
    app = create_app(config, recognizer)
    state: ServiceState = app.state.service
    alone = TestClient(create_app(ServeConfig(gallery_dir=tmp_path, workers=1), recognizer))
    want = {n: alone.post("/v1/detect", files={"image": (f"{n}.jpg", b)}).json() for n, b in photos.items()}

    gate = Gate(monkeypatch)
    with serve_in_thread(app) as url, gate:
        jobs = [(n, "/v1/detect", [("image", (f"{n}.jpg", photos[n]))], KEY) for n in sizes]
        # Another client is not counted against this one's budget.
        jobs.append(("other", "/v1/detect", [("image", ("A.jpg", photos["A"]))], OTHER))
        results, threads = send_in_order(url, state, jobs)
        refused = {n for n, r in results.items()}
        assert refused == {"C", "F"}  # answered while the others still hold their pixels
        for n in refused:
            assert_error(results[n], 429, "too_many_requests")
            assert int(results[n].headers["Retry-After"]) >= 1
        assert state.pixels.in_flight() == sum(pixels[n] for n in expect_admitted) + pixels["A"]
        gate.event.set()
        for t in threads:
            t.join(120)
        for n in expect_admitted | {"other"}:
            assert results[n].status_code == 200, results[n].text
            assert results[n].json()["faces"] == want[n if n != "other" else "A"]["faces"]
        assert state.pixels.in_flight() == 0  # all given back
        # Two images in one request (125 000 px) fit; a request whose images alone pass the
        # budget can never fit, whatever the wait: 413, not 429.
        pair = [("image_a", ("A.jpg", photos["A"])), ("image_b", ("A.jpg", photos["A"]))]
        assert requests.post(url + "/v1/verify", files=pair, headers={"X-API-Key": KEY}, timeout=60).status_code == 200
        three = [("images", (f"{i}.jpg", photos["A"])) for i in range(3)]  # 187 500 px > 150 000
        resp = requests.post(url + "/v1/galleries/g/identities/X", files=three, headers={"X-API-Key": KEY},
                             timeout=60)
        assert_error(resp, 413, "payload_too_large")
        assert "--max-pixels-in-flight" in resp.json()["error"]["message"]


def test_pixels_are_given_back_after_failures(recognizer: FaceRecognizer, aaron: Path, tmp_path: Path,
                                              monkeypatch) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (120, 120, 120)).save(buf, format="PNG")
    corrupt = bytearray(buf.getvalue())
    idat = corrupt.find(b"IDAT")
    corrupt[idat + 8: idat + 20] = b"\xff" * 12  # header intact (300x300), pixel data broken
    blank = buf.getvalue()  # decodes, has no face
    config = ServeConfig(gallery_dir=tmp_path, api_key_hashes=HASHES, workers=1, max_pixels=90_000,
                         max_pixels_in_flight=250_000)
    app = create_app(config, recognizer)
    state: ServiceState = app.state.service
    gate = Gate(monkeypatch)
    with serve_in_thread(app) as url, gate:
        jobs = [("corrupt", "/v1/detect", [("image", ("c.png", bytes(corrupt)))], KEY),
                ("noface", "/v1/verify", [("image_a", ("b.png", blank)), ("image_b", ("a.jpg", aaron.read_bytes()))],
                 KEY)]
        results, threads = send_in_order(url, state, jobs)
        assert not results  # both admitted and waiting
        assert state.pixels.in_flight() == 90_000 + 90_000 + 250 * 250  # counted from the headers
        gate.event.set()
        for t in threads:
            t.join(120)
        assert_error(results["corrupt"], 400, "image_invalid")
        assert_error(results["noface"], 422, "no_face")
        assert state.pixels.in_flight() == 0
        # The whole budget is free again: a request using most of it is admitted at once.
        two = [("image_a", ("b.png", blank)), ("image_b", ("b.png", blank))]
        assert_error(requests.post(url + "/v1/verify", files=two, headers={"X-API-Key": KEY}, timeout=60),
                     422, "no_face")
        assert state.pixels.in_flight() == 0


def test_global_pixel_budget(recognizer: FaceRecognizer, aaron: Path, tmp_path: Path, monkeypatch) -> None:
    photo = jpeg(aaron, (250, 200))  # 50 000 px
    config = ServeConfig(gallery_dir=tmp_path, api_key_hashes=HASHES, workers=1, max_pixels=50_000,
                         max_pixels_in_flight=100_000, max_pixels_in_flight_total=150_000)
    app = create_app(config, recognizer)
    state: ServiceState = app.state.service
    gate = Gate(monkeypatch)
    with serve_in_thread(app) as url, gate:
        one = [("image", ("a.jpg", photo))]
        jobs = [("k1", "/v1/detect", one, KEY), ("k2", "/v1/detect", one, KEY),      # KEY at its 100 000
                ("o1", "/v1/detect", one, OTHER),                                   # service at 150 000
                ("o2", "/v1/detect", one, OTHER)]                                   # OTHER is under its own limit
        results, threads = send_in_order(url, state, jobs)
        assert set(results) == {"o2"}
        body = assert_error(results["o2"], 429, "too_many_requests")
        assert "--max-pixels-in-flight-total" in body["error"]["message"]
        assert state.pixels.in_flight() == 150_000
        gate.event.set()
        for t in threads:
            t.join(120)
        assert [results[n].status_code for n in ("k1", "k2", "o1")] == [200, 200, 200]
        assert state.pixels.in_flight() == 0
        assert requests.post(url + "/v1/detect", files=one, headers={"X-API-Key": OTHER},
                             timeout=60).status_code == 200


def test_pixel_budget_is_thread_safe() -> None:
    """8 threads of 3 clients admit and hold pixels at once: what they hold, counted here,
    never passes either limit, refusals happen, and everything is given back."""
    budget = PixelBudget(per_client=1_000, total=1_500)
    held: dict[str, int] = {}
    worst = {"total": 0, "client": 0, "refused": 0, "admitted": 0}
    lock = threading.Lock()

    def client(name: str, amount: int) -> None:
        for _ in range(200):
            try:
                hold = budget.admit(name, amount)
            except QuotaExceeded as exc:
                assert exc.retry_after == 1
                with lock:
                    worst["refused"] += 1
                continue

            def work() -> None:
                with lock:  # counted after admission and uncounted before release: a lower bound
                    held[name] = held.get(name, 0) + amount
                    worst["total"] = max(worst["total"], sum(held.values()))
                    worst["client"] = max(worst["client"], held[name])
                    worst["admitted"] += 1
                time.sleep(0.0005)
                with lock:
                    held[name] -= amount
            hold.guard(work)()
    threads = [threading.Thread(target=client, args=(f"c{i % 3}", 300 + 100 * i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.in_flight() == 0 and all(budget.in_flight(f"c{i}") == 0 for i in range(3))
    assert worst["total"] <= 1_500 and worst["client"] <= 1_000
    assert worst["refused"] > 0 and worst["admitted"] > 0


def test_concurrent_maximum_size_uploads(recognizer: FaceRecognizer, tmp_path: Path, monkeypatch) -> None:
    """The README's sizing: ``--workers 2 --max-pixels-in-flight-total 128000000`` admits two
    uploads of the maximum size (64 MP) at once and answers a third with 429, from any clients.
    The uploads are real 8000 x 8000 PNGs (1-bit, so small on the wire); their decoding is
    replaced by a small image here (this test is about admission, not the decoder's memory)."""
    from facerec.io.image import MAX_PIXELS

    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, format="PNG")
    big = buf.getvalue()
    assert Image.open(io.BytesIO(big)).size == (8000, 8000) and 8000 * 8000 == MAX_PIXELS
    keys = [f"max-size-client-{i}" for i in range(3)]
    config = ServeConfig(gallery_dir=tmp_path, api_key_hashes=frozenset(map(hash_key, keys)), workers=2,
                         max_pixels_in_flight_total=128_000_000)
    app = create_app(config, recognizer)
    state: ServiceState = app.state.service
    gate = threading.Event()

    def decode(self, data: bytes, filename: str) -> np.ndarray:
        gate.wait(60)
        return np.zeros((64, 64, 3), np.uint8)
    monkeypatch.setattr(ServiceState, "decode", decode)
    with serve_in_thread(app) as url:
        try:
            jobs = [(k, "/v1/detect", [("image", ("big.png", big))], k) for k in keys]
            results, threads = send_in_order(url, state, jobs)
            assert set(results) == {keys[2]}
            assert_error(results[keys[2]], 429, "too_many_requests")
            assert state.pixels.in_flight() == 2 * MAX_PIXELS
        finally:
            gate.set()
        for t in threads:
            t.join(120)
        assert [results[k].status_code for k in keys[:2]] == [200, 200]
        assert state.pixels.in_flight() == 0


def test_small_requests_do_not_queue_behind_big_uploads(recognizer: FaceRecognizer, aaron: Path, lfw_dir: Path,
                                                        tmp_path: Path, monkeypatch) -> None:
    """With every worker of the big lane held by a 64 MP upload, a verify of two LFW photos
    (small: its own lane) still answers, with the score the recognizer gives directly."""
    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, format="PNG")
    big = buf.getvalue()
    config = ServeConfig(gallery_dir=tmp_path, workers=2)
    app = create_app(config, recognizer)
    state: ServiceState = app.state.service
    gate = threading.Event()
    real = ServiceState.decode

    def decode(self, data: bytes, filename: str):
        if filename == "big.png":
            assert gate.wait(60), "gate never opened"
            return np.zeros((64, 64, 3), np.uint8)
        return real(self, data, filename)
    monkeypatch.setattr(ServiceState, "decode", decode)
    other = lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"
    with serve_in_thread(app) as url:
        try:
            jobs = [(f"big{i}", "/v1/detect", [("image", ("big.png", big))], "") for i in range(2)]
            results, threads = send_in_order(url, state, jobs)
            wait_for(lambda: state.pixels.in_flight() == 2 * 64_000_000)
            r = requests.post(url + "/v1/verify", timeout=60,
                              files={"image_a": ("a.jpg", aaron.read_bytes()), "image_b": ("b.jpg", other.read_bytes())})
            assert r.status_code == 200 and not results  # answered while both big uploads still wait
            assert r.json()["score"] == pytest.approx(recognizer.verify(aaron, other).score, abs=1e-5)
        finally:
            gate.set()
        for t in threads:
            t.join(120)
    assert [results[f"big{i}"].status_code for i in range(2)] == [200, 200]
