"""`facerec serve`, every endpoint in-process (FastAPI TestClient) on real LFW faces.

Oracles: the CLI's ``--json`` output for the same images and model (the service must answer
exactly what the CLI prints), the library called directly, formats decoded independently
(PIL for the crops, prometheus_client's parser for /metrics), and the saved gallery read
back from disk.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import io
import re
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from facerec import FaceRecognizer  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from pipelines.serve import ServeConfig, create_app  # noqa: E402
from pipelines.serve.auth import hash_key  # noqa: E402

KEY = "test-key-0123456789"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def recognizer(random_model: Path) -> FaceRecognizer:
    return FaceRecognizer.load(random_model)


@pytest.fixture(scope="module")
def faces(lfw_dir: Path) -> dict[str, Path]:
    """Single-face LFW photos: two people with three photos each, and a third person."""
    pick = {f"powell{i}": lfw_dir / "Colin_Powell" / f"Colin_Powell_000{i}.jpg" for i in (1, 2, 3)}
    pick.update({f"blair{i}": lfw_dir / "Tony_Blair" / f"Tony_Blair_000{i}.jpg" for i in (1, 2, 3)})
    pick["aaron"] = lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    return pick


def make_client(recognizer: FaceRecognizer, root: Path, **overrides) -> TestClient:
    cfg = dict(gallery_dir=root, api_key_hashes=frozenset({hash_key(KEY)}), workers=2)
    cfg.update(overrides)
    return TestClient(create_app(ServeConfig(**cfg), recognizer), raise_server_exceptions=False)


@pytest.fixture()
def client(recognizer: FaceRecognizer, tmp_path: Path) -> TestClient:
    return make_client(recognizer, tmp_path / "galleries")


def upload(path: Path, field: str = "image") -> dict:
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


def cli_json(capsys, module: str, *argv: str) -> dict:
    """What ``facerec <command> ... --json`` prints: the subcommand module's own parser and
    ``run`` (the function ``pipelines.cli`` dispatches to), in-process."""
    parser = argparse.ArgumentParser(prog="facerec")
    importlib.import_module(f"pipelines.cli.{module}").add_parser(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    capsys.readouterr()
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"] and "Traceback" not in resp.text
    return body


# -- faces --------------------------------------------------------------------------------------
def test_health_docs_and_page(client: TestClient, recognizer: FaceRecognizer) -> None:
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["model_id"] == recognizer.model_id and h["threshold"] == 0.5
    assert h["detector"] == recognizer.detector.name  # type: ignore[attr-defined]
    assert h["auth"] is True and h["max_upload_bytes"] == 10 * 2**20
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/v1/detect", "/v1/verify", "/v1/galleries/{name}/identities", "/v1/galleries/{name}/search",
              "/v1/galleries/{name}/identities/{identity}", "/healthz", "/metrics"):
        assert any(k.startswith(p) for k in paths), p
    page = client.get("/")
    assert page.status_code == 200 and 'id="verify-run"' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_detect_equals_cli(client: TestClient, faces: dict[str, Path], capsys) -> None:
    resp = client.post("/v1/detect", files=upload(faces["aaron"]))
    assert resp.status_code == 200, resp.text
    expected = cli_json(capsys, "detect", "detect", str(faces["aaron"]), "--json")
    assert resp.json() == {"image": faces["aaron"].name, "faces": expected["faces"]}
    assert len(expected["faces"]) == 1


def test_verify_equals_cli_and_returns_the_crops(client: TestClient, recognizer: FaceRecognizer,
                                                  faces: dict[str, Path], random_model: Path, capsys) -> None:
    for a, b in (("powell1", "powell2"), ("powell1", "blair1")):
        resp = client.post("/v1/verify", files={**upload(faces[a], "image_a"), **upload(faces[b], "image_b")})
        assert resp.status_code == 200, resp.text
        got = resp.json()
        want = cli_json(capsys, "verify", "verify", str(faces[a]), str(faces[b]), "--json", "--weights", str(random_model))
        assert set(got) == {"same", "score", "threshold", "quality"}
        assert got["quality"] == want["quality"]  # each face's quality, as the CLI reports it
        assert got["threshold"] == want["threshold"] == 0.5
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert got["same"] == (got["score"] >= 0.5)
    same = client.post("/v1/verify?crops=true", files={**upload(faces["aaron"], "image_a"),
                                                       **upload(faces["aaron"], "image_b")}).json()
    assert same["same"] is True and same["score"] == pytest.approx(1.0, abs=1e-5)
    crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(same["crops"]["a"]))))
    assert crop.shape == (112, 112, 3)
    np.testing.assert_array_equal(crop, recognizer.face(faces["aaron"]).crop)
    over = client.post("/v1/verify?threshold=1.0", files={**upload(faces["aaron"], "image_a"),
                                                          **upload(faces["blair1"], "image_b")}).json()
    assert over["threshold"] == 1.0 and over["same"] is False


def test_no_face_and_multiple_faces(client: TestClient, faces: dict[str, Path]) -> None:
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank, format="PNG")
    resp = client.post("/v1/verify", files={"image_a": ("blank.png", blank.getvalue()),
                                            "image_b": ("a.jpg", faces["aaron"].read_bytes())})
    assert_error(resp, 422, "no_face")
    # Two single-face photos side by side: two faces.
    pair = Image.new("RGB", (500, 250))
    pair.paste(Image.open(faces["powell1"]).convert("RGB"), (0, 0))
    pair.paste(Image.open(faces["blair1"]).convert("RGB"), (250, 0))
    buf = io.BytesIO()
    pair.save(buf, format="JPEG", quality=95)
    assert len(client.post("/v1/detect", files={"image": ("pair.jpg", buf.getvalue())}).json()["faces"]) == 2
    resp = client.post("/v1/galleries/g/identities/two", files={"images": ("pair.jpg", buf.getvalue())}, headers=AUTH)
    assert_error(resp, 422, "multiple_faces")
    assert client.get("/v1/galleries/g/identities").status_code == 404  # the failed first enroll left nothing
    resp = client.post("/v1/galleries/g/identities/two?face=largest", files={"images": ("pair.jpg", buf.getvalue())},
                       headers=AUTH)
    assert resp.status_code == 200 and resp.json()["templates"] == 1
    for bad in ("many", "", "-1"):  # what the schema's pattern refuses, the server refuses
        assert_error(client.post(f"/v1/galleries/g/identities/two?face={bad}",
                                 files={"images": ("p.jpg", buf.getvalue())}, headers=AUTH), 422, "validation_error")
    param = next(p for p in client.get("/openapi.json").json()["paths"]["/v1/galleries/{name}/identities/{identity}"]
                 ["post"]["parameters"] if p["name"] == "face")
    pattern = next(s["pattern"] for s in param["schema"]["anyOf"] if "pattern" in s)
    assert [bool(re.fullmatch(pattern.strip("^$"), v)) for v in ("largest", "0", "12", "", "-1", "many")] == \
        [True, True, True, False, False, False]


# -- galleries ------------------------------------------------------------------------------------
def test_gallery_enroll_list_search_remove_equal_the_cli(client: TestClient, faces: dict[str, Path],
                                                          tmp_path: Path, random_model: Path, capsys,
                                                          recognizer: FaceRecognizer) -> None:
    root = tmp_path / "galleries"
    r = client.post("/v1/galleries/people/identities/Colin Powell",
                    files=[("images", (faces[f].name, faces[f].read_bytes())) for f in ("powell1", "powell2")],
                    data={"metadata": json.dumps({"role": "general"})}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == {"enrolled": {"Colin Powell": 2}, "templates": 2, "skipped": [], "warnings": [],
                        "gallery": "people", "identities": 1}
    name = "Tony/Blair ünïcode"  # a name with a slash and non-ASCII stays a name, never a path
    r = client.post("/v1/galleries/people/identities/Tony%2FBlair%20%C3%BCn%C3%AFcode",
                    files={"images": (faces["blair1"].name, faces["blair1"].read_bytes())}, headers=AUTH)
    assert r.status_code == 200 and r.json()["enrolled"] == {name: 1}
    assert sorted(p.name for p in root.iterdir()) == ["people"]

    listing = client.get("/v1/galleries/people/identities").json()
    want = cli_json(capsys, "gallery", "gallery", "list", "--gallery", str(root / "people"), "--json")
    # Same document, but the threshold is the one search applies: the CLI lists the gallery
    # without a model (none saved), the server has the model's (0.5) attached.
    assert want["threshold"] is None and listing["threshold"] == 0.5
    assert listing == {**want, "gallery": "people", "threshold": 0.5}
    assert [p["name"] for p in listing["people"]] == ["Colin Powell", name]
    assert listing["people"][0]["metadata"] == {"role": "general"}
    assert client.get("/v1/galleries").json() == {"galleries": [{"name": "people", "identities": 2, "templates": 3,
                                                                 "model": None, "model_id": recognizer.model_id}]}

    for query in ("powell3", "blair1"):
        got = client.post("/v1/galleries/people/search?k=2", files=upload(faces[query])).json()
        want = cli_json(capsys, "search", "search", str(faces[query]), "--gallery", str(root / "people"), "-k", "2",
                        "--json", "--weights", str(random_model))
        assert got["image"] == faces[query].name and len(got["faces"]) == len(want["faces"]) == 1
        g, w = got["faces"][0], want["faces"][0]
        assert g["identity"] == w["identity"] and g["detection"] == w["detection"]
        assert [m["identity"] for m in g["matches"]] == [m["identity"] for m in w["matches"]]
        assert [m["score"] for m in g["matches"]] == pytest.approx([m["score"] for m in w["matches"]], abs=1e-5)
    # An enrolled photo finds its own template: cosine 1, above any threshold.
    exact = client.post("/v1/galleries/people/search", files=upload(faces["blair1"])).json()["faces"][0]
    assert exact["identity"] == name and exact["score"] == pytest.approx(1.0, abs=1e-5)
    unknown = client.post("/v1/galleries/people/search?threshold=1.0", files=upload(faces["aaron"])).json()
    assert unknown["faces"][0]["identity"] is None and unknown["faces"][0]["matches"]

    r = client.delete("/v1/galleries/people/identities/Tony%2FBlair%20%C3%BCn%C3%AFcode", headers=AUTH)
    assert r.json() == {"gallery": "people", "removed": name, "templates": 1, "identities": 1}
    assert_error(client.delete("/v1/galleries/people/identities/Tony%2FBlair%20%C3%BCn%C3%AFcode", headers=AUTH),
                 404, "not_found")
    assert Gallery.load(root / "people").identities() == ["Colin Powell"]  # on disk before the answer


def test_writes_need_a_valid_key(recognizer: FaceRecognizer, faces: dict[str, Path], tmp_path: Path) -> None:
    client = make_client(recognizer, tmp_path / "g")
    photo = {"images": ("a.jpg", faces["aaron"].read_bytes())}
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        resp = client.post("/v1/galleries/g/identities/Aaron", files=photo, headers=headers)
        assert_error(resp, 401, "unauthorized")
    assert not (tmp_path / "g" / "g").exists()
    assert client.post("/v1/galleries/g/identities/Aaron", files=photo,
                       headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert_error(client.delete("/v1/galleries/g/identities/Aaron"), 401, "unauthorized")
    assert_error(client.delete("/v1/galleries/g/identities/Aaron", headers={"X-API-Key": KEY + "x"}), 401,
                 "unauthorized")
    assert client.get("/v1/galleries/g/identities").json()["identities"] == 1  # reads need no key
    # No keys configured: writes are off; --no-auth: writes need nothing.
    body = assert_error(make_client(recognizer, tmp_path / "g2", api_key_hashes=frozenset())
                        .post("/v1/galleries/g/identities/A", files=photo, headers=AUTH), 401, "unauthorized")
    assert "--api-keys" in body["error"]["message"]
    open_client = make_client(recognizer, tmp_path / "g3", api_key_hashes=frozenset(), auth=False)
    assert open_client.post("/v1/galleries/g/identities/A", files=photo).status_code == 200


def test_auth_warning_is_logged_once(recognizer: FaceRecognizer, tmp_path: Path, caplog) -> None:
    for host, where in (("127.0.0.1", "this machine"), ("0.0.0.0", "the network (0.0.0.0)")):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            make_client(recognizer, tmp_path / host, api_key_hashes=frozenset(), auth=False, host=host)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
            f"API keys are OFF (--no-auth): anyone on {where} can change the galleries"]
    with pytest.raises(ValueError, match="not both"):
        ServeConfig(gallery_dir=tmp_path, api_key_hashes=frozenset({hash_key(KEY)}), auth=False)


def test_validation_errors(client: TestClient, faces: dict[str, Path]) -> None:
    photo = upload(faces["aaron"])
    for bad in ("a.b", "x" * 65, "%2E%2E", "a%2Fb", "sp%20ace"):
        assert_error(client.post(f"/v1/galleries/{bad}/search", files=photo), *(
            (404, "not_found") if bad == "a%2Fb" else (422, "validation_error")))
    assert_error(client.post("/v1/galleries/nope/search", files=photo), 404, "not_found")
    client.post("/v1/galleries/g/identities/A", files={"images": ("a.jpg", faces["aaron"].read_bytes())}, headers=AUTH)
    assert_error(client.post("/v1/galleries/g/search?k=0", files=photo), 422, "validation_error")
    assert_error(client.post("/v1/verify?threshold=2", files={**upload(faces["aaron"], "image_a"),
                                                              **upload(faces["aaron"], "image_b")}),
                 422, "validation_error")
    assert_error(client.post("/v1/verify", files=upload(faces["aaron"], "image_a")), 422, "validation_error")
    assert_error(client.post("/v1/galleries/g/identities/%20", files={"images": ("a.jpg", faces["aaron"].read_bytes())},
                             headers=AUTH), 422, "validation_error")
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.get("/v1/verify"), 405, "method_not_allowed")


# -- uploads ----------------------------------------------------------------------------------------
def _png_bytes(path: Path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).save(buf, format="PNG")
    return buf.getvalue()


def test_images_are_sniffed_by_content(client: TestClient, faces: dict[str, Path]) -> None:
    # A PNG called .txt and sent as text/plain is still a PNG: same faces as the JPEG it came from.
    png = client.post("/v1/detect", files={"image": ("photo.txt", _png_bytes(faces["aaron"]), "text/plain")})
    jpg = client.post("/v1/detect", files=upload(faces["aaron"]))
    assert png.status_code == 200 and png.json()["faces"] == jpg.json()["faces"]
    data = faces["aaron"].read_bytes()
    bad = {
        "text named .jpg": b"this is not an image at all" * 10,
        "empty": b"",
        "truncated JPEG": data[: len(data) // 3],
        "EPS (refused decoder)": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n",
        "HTML": b"<html><body><img src=x onerror=alert(1)></body></html>",
    }
    for what, payload in bad.items():
        resp = client.post("/v1/detect", files={"image": ("photo.jpg", payload, "image/jpeg")})
        assert resp.status_code == 400, what
        assert_error(resp, 400, "image_invalid")


def test_upload_limits(recognizer: FaceRecognizer, faces: dict[str, Path], tmp_path: Path) -> None:
    photo = faces["aaron"].read_bytes()  # ~10 KB, 250×250 = 62 500 px
    client = make_client(recognizer, tmp_path / "g", max_upload_bytes=len(photo) * 3, max_pixels=100_000)
    ok = client.post("/v1/detect", files={"image": ("a.jpg", photo)})
    assert ok.status_code == 200
    big = photo + b"\0" * (len(photo) * 3)  # JPEG with trailing junk: fine as an image, too many bytes
    body = assert_error(client.post("/v1/detect", files={"image": ("a.jpg", big)}), 413, "payload_too_large")
    assert f"{len(photo) * 3:,}" in body["error"]["message"]

    def chunks():  # no Content-Length: the limit applies to the streamed bytes
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
        for _ in range(10):
            yield photo
        yield b"\r\n--xyz--\r\n"
    resp = client.post("/v1/detect", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert_error(resp, 413, "payload_too_large")
    # Pixels: a 400×400 image is small in bytes but over max_pixels.
    buf = io.BytesIO()
    Image.new("L", (400, 400)).save(buf, format="PNG")
    body = assert_error(client.post("/v1/detect", files={"image": ("big.png", buf.getvalue())}), 413,
                        "payload_too_large")
    assert "400x400" in body["error"]["message"]
    with pytest.raises(ValueError, match="max_pixels"):
        ServeConfig(gallery_dir=tmp_path, max_pixels=10**9)  # cannot exceed facerec.io.image.MAX_PIXELS


# -- durability, rollback, metrics ------------------------------------------------------------------------
def test_acknowledged_writes_survive_a_restart_and_failed_saves_roll_back(
        recognizer: FaceRecognizer, faces: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "g"
    first = make_client(recognizer, root)
    for who in ("powell1", "blair1"):
        assert first.post(f"/v1/galleries/x/identities/{who}", files={"images": ("a.jpg", faces[who].read_bytes())},
                          headers=AUTH).status_code == 200

    def broken_save(self, directory):
        raise OSError("disk full")
    monkeypatch.setattr(Gallery, "save", broken_save)
    resp = first.post("/v1/galleries/x/identities/aaron", files={"images": ("a.jpg", faces["aaron"].read_bytes())},
                      headers=AUTH)
    assert_error(resp, 500, "internal_error")
    assert "disk full" not in resp.text  # server faults are logged, not shown
    assert first.get("/v1/galleries/x/identities").json()["identities"] == 2  # rolled back in memory
    monkeypatch.undo()

    second = make_client(recognizer, root)  # a restart: everything acknowledged is there
    assert [p["name"] for p in second.get("/v1/galleries/x/identities").json()["people"]] == ["powell1", "blair1"]
    hit = second.post("/v1/galleries/x/search", files=upload(faces["blair1"])).json()["faces"][0]
    assert hit["identity"] == "blair1" and hit["score"] == pytest.approx(1.0, abs=1e-5)


def test_metrics_count_requests_and_gallery_sizes(client: TestClient, faces: dict[str, Path]) -> None:
    photo = upload(faces["aaron"])
    for _ in range(3):
        assert client.post("/v1/detect", files=photo).status_code == 200
    client.post("/v1/detect", files={"image": ("x.jpg", b"nope")})
    client.post("/v1/galleries/m/identities/A", files={"images": ("a.jpg", faces["aaron"].read_bytes())})
    client.post("/v1/galleries/m/identities/A", files={"images": ("a.jpg", faces["aaron"].read_bytes())}, headers=AUTH)
    client.post("/v1/galleries/m/identities/B", files={"images": ("b.jpg", faces["blair1"].read_bytes())}, headers=AUTH)
    client.get("/no/such/page")
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    samples = {}
    for fam in text_string_to_metric_families(text.text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def count(route: str, status: int, method: str = "POST") -> float:
        key = ("facerec_http_requests_total", (("method", method), ("route", route), ("status", str(status))))
        return samples.get(key, 0.0)
    enroll_route = "/v1/galleries/{name}/identities/{identity:path}"
    assert count("/v1/detect", 200) == 3 and count("/v1/detect", 400) == 1
    assert count(enroll_route, 401) == 1 and count(enroll_route, 200) == 2
    assert count("unmatched", 404, "GET") == 1
    hist = ("facerec_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/detect")))
    assert samples[hist] == 4
    assert samples[("facerec_gallery_identities", (("gallery", "m"),))] == 2
    assert samples[("facerec_gallery_templates", (("gallery", "m"),))] == 2


def test_hash_key_matches_sha256() -> None:
    assert hash_key("s3cret") == hashlib.sha256(b"s3cret").hexdigest()
    with pytest.raises(ValueError):
        hash_key(" padded ")


def test_enroll_warns_about_a_low_quality_photo_and_strict_quality_refuses_it(client: TestClient,
                                                                             faces: dict[str, Path]) -> None:
    import cv2

    from facerec import load_image

    small = cv2.GaussianBlur(cv2.resize(load_image(faces["powell1"]), None, fx=0.2, fy=0.2,
                                        interpolation=cv2.INTER_AREA), (0, 0), 0.8)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG")
    files = {"images": ("thumb.png", buf.getvalue())}
    r = client.post("/v1/galleries/people/identities/Colin Powell?strict_quality=true", files=files, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == "low_quality"
    assert "blurred" in r.json()["error"]["message"]
    r = client.post("/v1/galleries/people/identities/Colin Powell", files=files, headers=AUTH)
    assert r.status_code == 200, r.text
    (w,) = r.json()["warnings"]
    assert w["path"] == "thumb.png" and "blurred" in w["reasons"] and w["quality"] < w["min_quality"]
