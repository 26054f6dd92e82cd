"""`facerec.client.FaceRecognitionClient` against a real uvicorn server on a loopback port.

Oracle: the local API (FaceRecognizer, Gallery) on the same model and the same saved
gallery — the client must return the same answers and raise the same exception types.
"""
from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("uvicorn")
from facerec import FacerecError, FaceRecognizer, ImageError, MultipleFacesError, NoFaceError  # noqa: E402
from facerec.client import AuthenticationError, FaceRecognitionClient, RemoteError  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from pipelines.serve import ServeConfig, create_app  # noqa: E402
from pipelines.serve.auth import hash_key  # noqa: E402
from pipelines.serve.server import serve_in_thread  # noqa: E402

KEY = "client-test-key"


@pytest.fixture(scope="module")
def recognizer(random_model: Path) -> FaceRecognizer:
    return FaceRecognizer.load(random_model)


@pytest.fixture(scope="module")
def server(recognizer: FaceRecognizer, tmp_path_factory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("client_galleries")
    app = create_app(ServeConfig(gallery_dir=root, api_key_hashes=frozenset({hash_key(KEY)}), workers=2), recognizer)
    with serve_in_thread(app) as url:
        yield url, root


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> dict[str, Path]:
    return {"powell1": lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg",
            "powell2": lfw_dir / "Colin_Powell" / "Colin_Powell_0002.jpg",
            "blair1": lfw_dir / "Tony_Blair" / "Tony_Blair_0001.jpg",
            "blair2": lfw_dir / "Tony_Blair" / "Tony_Blair_0002.jpg",
            "aaron": lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"}


def test_detect_and_verify_equal_the_local_recognizer(server, recognizer: FaceRecognizer, photos) -> None:
    url, _ = server
    client = FaceRecognitionClient(url)
    remote, local = client.detect(photos["aaron"]), recognizer.detect(photos["aaron"])
    assert [d.to_dict() for d in remote] == [d.to_dict() for d in local]
    assert remote[0].landmarks.shape == (5, 2)
    for a, b in (("powell1", "powell2"), ("powell1", "blair1")):
        r, lo = client.verify(photos[a], photos[b]), recognizer.verify(photos[a], photos[b])
        assert r.same == lo.same and r.threshold == lo.threshold == 0.5
        assert r.score == pytest.approx(lo.score, abs=1e-5)
    assert client.verify(photos["aaron"], photos["blair1"], threshold=-1.0).same is True
    # Every input kind the local API takes sends the same pixels: the same score.
    path = photos["blair2"]
    rgb = np.asarray(Image.open(path).convert("RGB"))
    scores = [client.verify(photos["powell1"], x).score
              for x in (path, str(path), path.read_bytes(), Image.open(path), rgb)]
    assert scores == pytest.approx([scores[0]] * 5, abs=1e-6)


def test_gallery_methods_equal_the_local_gallery(server, recognizer: FaceRecognizer, photos) -> None:
    url, root = server
    client = FaceRecognitionClient(url, api_key=KEY, gallery="staff")
    assert client.enroll("Colin Powell", [photos["powell1"], photos["powell2"]], metadata={"team": "a"}) == 2
    assert client.enroll("Tony/Blair", photos["blair1"]) == 1
    assert client.identities() == ["Colin Powell", "Tony/Blair"] and len(client) == 2
    assert "Tony/Blair" in client and "Nobody" not in client
    assert client.info("Colin Powell").num_templates == 2 and client.info("Colin Powell").metadata == {"team": "a"}
    assert "staff" in client.galleries()

    local = Gallery.load(root / "staff", recognizer=recognizer)  # what the server saved
    assert local.identities() == client.identities()
    for q in ("blair2", "aaron"):
        remote, here = client.search(photos[q], k=2), local.search(photos[q], k=2)
        assert len(remote) == len(here) == 1
        assert remote[0].identity == here[0].identity
        assert [m.identity for m in remote[0].matches] == [m.identity for m in here[0].matches]
        assert [m.score for m in remote[0].matches] == pytest.approx([m.score for m in here[0].matches], abs=1e-5)
        assert remote[0].detection.to_dict() == here[0].detection.to_dict()
        assert remote[0].quality.to_dict() == here[0].quality.to_dict()  # each face's quality, over HTTP too

    def who(gallery, image) -> str | None:  # code written for the local API
        return gallery.search(image, k=1)[0].identity
    assert who(client, photos["blair1"]) == who(local, photos["blair1"]) == "Tony/Blair"

    client.remove("Tony/Blair")
    assert client.identities() == ["Colin Powell"]
    with pytest.raises(KeyError):
        client.remove("Tony/Blair")
    assert Gallery.load(root / "staff").identities() == ["Colin Powell"]  # saved before the answer


def test_errors_are_the_local_exception_types(server, photos, tmp_path: Path) -> None:
    url, _ = server
    client = FaceRecognitionClient(url, api_key=KEY, gallery="errors")
    blank = Image.new("RGB", (160, 160), (90, 90, 90))
    with pytest.raises(NoFaceError) as no_face:
        client.verify(blank, photos["aaron"])
    assert no_face.value.code == "no_face" and no_face.value.status == 422
    with pytest.raises(ImageError):
        client.detect(b"definitely not an image")
    with pytest.raises(ImageError):
        client.detect(tmp_path / "missing.jpg")
    pair = Image.new("RGB", (500, 250))
    pair.paste(Image.open(photos["powell1"]).convert("RGB"), (0, 0))
    pair.paste(Image.open(photos["blair1"]).convert("RGB"), (250, 0))
    with pytest.raises(MultipleFacesError):
        client.enroll("two", pair)
    assert client.enroll("two", pair, face="largest") == 1
    with pytest.raises(ValueError):
        client.search(photos["aaron"], k=0)
    with pytest.raises(KeyError):
        client.with_gallery("no-such-gallery").search(photos["aaron"])
    with pytest.raises(AuthenticationError):
        FaceRecognitionClient(url, gallery="errors").enroll("x", photos["aaron"])
    with pytest.raises(AuthenticationError):
        FaceRecognitionClient(url, api_key="wrong", gallery="errors").remove("two")
    assert client.identities() == ["two"]
    # Nothing listening: RemoteError (a FacerecError), not a requests exception.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteError) as down:
        FaceRecognitionClient(f"http://127.0.0.1:{port}", timeout=5).detect(photos["aaron"])
    assert isinstance(down.value, FacerecError) and down.value.status == 0
    with pytest.raises(ValueError):
        client.search(np.zeros(512, np.float32))  # embeddings are not sent over the wire
    buf = io.BytesIO()
    Image.open(photos["aaron"]).save(buf, format="PNG")
    # The same pixels sent as PNG bytes: the same face found as from the JPEG file.
    (from_png,), (from_jpeg,) = client.search(buf.getvalue()), client.detect(photos["aaron"])
    np.testing.assert_allclose(from_png.detection.box, from_jpeg.box, atol=1e-3)
    assert from_png.detection.score == pytest.approx(from_jpeg.score, abs=1e-5)
