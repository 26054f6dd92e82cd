"""Bad and unusual images through the PUBLIC paths: the CLI (in-process ``main``) and
:class:`FaceRecognizer`.

Every bad input gives one clear error (CLI: exit 2, one stderr line, no traceback; API: a
:class:`FacerecError` subclass). Every unusual-but-valid encoding of a real LFW face gives the
same answer as the plain original (the oracle): same number of faces, nearly the same box and
embedding. (tests/facerec/test_image.py checks the pixel decoding itself.)
"""
from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec import FacerecError, FaceRecognizer, ImageError, MultipleFacesError, NoFaceError
from facerec.io.image import MAX_PIXELS
from pipelines.cli import main


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width×height (8-bit grey) with a tiny IDAT: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def face_grey(aaron: Path) -> np.ndarray:
    return np.asarray(Image.open(aaron).convert("L"))  # (250, 250) uint8


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, aaron: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    jpg = aaron.read_bytes()
    png = _encode(Image.open(aaron), "PNG")
    files = {
        "truncated_jpeg": jpg[: len(jpg) // 3],
        "truncated_png": png[: len(png) // 2],
        "text_named_jpg": b"this is a text file, not a JPEG\n",
        "zero_bytes": b"",
        "one_pixel": _encode(Image.new("RGB", (1, 1), (200, 150, 100)), "PNG"),
        "bomb_20000x20000": _png_header_only(20000, 20000),
        "bomb_9000x9000": _png_header_only(9000, 9000),  # above MAX_PIXELS, below PIL's own guard
    }
    assert 9000 * 9000 > MAX_PIXELS
    out = {}
    for name, data in files.items():
        p = d / (name + (".png" if "png" in name or "bomb" in name or "pixel" in name else ".jpg"))
        p.write_bytes(data)
        out[name] = p
    return out


@pytest.fixture(scope="module")
def good_variants(tmp_path_factory, aaron: Path, face_grey: np.ndarray) -> dict[str, Path]:
    """The same LFW face in unusual encodings, each decoding to (nearly) the original pixels."""
    d = tmp_path_factory.mktemp("variants")
    rgb = Image.open(aaron).convert("RGB")
    out: dict[str, Path] = {}

    def put(name: str, data: bytes, ext: str) -> None:
        (d / f"{name}.{ext}").write_bytes(data)
        out[name] = d / f"{name}.{ext}"

    put("png16", _encode(Image.fromarray(face_grey.astype(np.uint16) * 257), "PNG"), "png")
    put("cmyk_jpeg", _encode(rgb.convert("CMYK"), "JPEG", quality=95), "jpg")
    put("palette", _encode(rgb.convert("P", palette=Image.ADAPTIVE, colors=256), "PNG"), "png")
    rgba = np.dstack([np.asarray(rgb), np.full((250, 250), 255, np.uint8)])
    rgba[:20, :, 3] = 0  # a transparent top strip (composited on white), face untouched
    put("rgba", _encode(Image.fromarray(rgba, "RGBA"), "PNG"), "png")
    frames = [rgb.convert("P", palette=Image.ADAPTIVE), Image.new("P", (250, 250), 0)]
    put("animated_gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100), "gif")
    # Pixels stored rotated 90° CCW with EXIF orientation 6 ("rotate 90° CW to display"): the
    # displayed, upright image is the original.
    stored = rgb.transpose(Image.Transpose.ROTATE_90)
    exif = stored.getexif()
    exif[0x0112] = 6
    put("exif_rotated", _encode(stored, "JPEG", quality=95, exif=exif.tobytes()), "jpg")
    return out


@pytest.fixture(scope="module")
def rec(random_model: Path) -> FaceRecognizer:
    return FaceRecognizer.load(random_model)


def _one_line_error(capsys) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert "Traceback" not in cap.err and lines[0].startswith("facerec ") and "error:" in lines[0]
    return lines[0]


BAD = ["truncated_jpeg", "truncated_png", "text_named_jpg", "zero_bytes", "one_pixel", "bomb_20000x20000",
       "bomb_9000x9000"]
EXPECTED_MESSAGE = {"truncated_jpeg": "cannot decode", "truncated_png": "cannot decode",
                    "zero_bytes": "empty file|not a recognised", "one_pixel": "too small", "bomb_20000x20000": "too large|exceeds",
                    "bomb_9000x9000": "exceeds", "text_named_jpg": "not a recognised image"}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_cli_and_api(case, bad_files, aaron, random_model, rec, capsys):
    path = bad_files[case]
    # CLI: detect (detector only) and verify (bad file first or second) all exit 2 with one line.
    assert main(["detect", str(path)]) == 2
    line = _one_line_error(capsys)
    assert str(path) in line
    if case in ("truncated_jpeg", "bomb_20000x20000"):  # the full model path (loading a model costs ~1 s)
        assert main(["verify", str(aaron), str(path), "--weights", str(random_model)]) == 2
        _one_line_error(capsys)
    # API: path and bytes both raise ImageError (a FacerecError) with the same reason.
    for src in (path, path.read_bytes()):
        with pytest.raises(ImageError, match=EXPECTED_MESSAGE[case]) as exc:
            rec.face(src)
        assert isinstance(exc.value, FacerecError)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def reference_face(rec: FaceRecognizer, aaron: Path):
    return rec.face(aaron)


@pytest.mark.parametrize("case", ["png16", "cmyk_jpeg", "palette", "rgba", "animated_gif", "exif_rotated"])
def test_unusual_encodings_match_the_original(case, good_variants, rec, reference_face, capsys):
    path = good_variants[case]
    assert main(["detect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["faces"]) == 1
    f = rec.face(path)
    assert _iou(np.asarray(f.detection.box), np.asarray(reference_face.detection.box)) > 0.9
    cos = float(f.embedding @ reference_face.embedding)
    # png16 decodes to exactly the original pixels; the lossy re-encodings to nearly them.
    assert cos > (0.9999 if case == "png16" else 0.9), cos


def test_no_face(rec, tmp_path, capsys):
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.png"
    Image.fromarray(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)).save(noise)
    assert main(["detect", str(noise), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == []
    with pytest.raises(NoFaceError):
        rec.face(noise)
    assert rec.embed(noise).shape == (0, rec.embedder.embedding_size)
    # Documented fallback: a centre crop with detection score 0.
    assert rec.face(noise, fallback_center=True).detection.score == 0.0


def test_many_faces_tiled(rec, face_grey, reference_face, tmp_path, capsys):
    tiled = np.tile(face_grey, (2, 2))  # 500×500, the same face in each quadrant
    p = tmp_path / "four.png"
    Image.fromarray(tiled).save(p)
    assert main(["detect", str(p), "--json"]) == 0
    boxes = np.array([f["box"] for f in json.loads(capsys.readouterr().out)["faces"]])
    assert len(boxes) == 4
    # One box per quadrant, each the reference box shifted by the quadrant's offset.
    ref = np.asarray(reference_face.detection.box)
    for dy in (0, 250):
        for dx in (0, 250):
            shifted = ref + np.array([dx, dy, dx, dy])
            assert max(_iou(b, shifted) for b in boxes) > 0.9
    with pytest.raises(MultipleFacesError, match="4 faces"):
        rec.face(p, select="only")
    emb = rec.embed(p)
    assert emb.shape == (4, rec.embedder.embedding_size)
    assert (emb @ reference_face.embedding > 0.9).all()
    # verify picks the largest face and succeeds (same person).
    assert rec.verify(p, p).score > 0.999


@pytest.mark.parametrize("arr", [
    np.zeros((250, 250, 3, 1), np.uint8),       # 4-d
    np.zeros((250, 250, 2), np.uint8),          # 2 channels
    np.zeros((250, 250, 5), np.uint8),          # 5 channels
    np.zeros((250, 250, 3), np.int32),          # integer dtype other than uint8/16
    np.zeros((250, 250, 3), bool),
    np.zeros((250, 250, 3), np.complex64),
    np.full((250, 250, 3), 255.0, np.float32),  # float outside [0, 1]
    np.full((250, 250, 3), np.inf),
    np.zeros((0, 250, 3), np.uint8),            # empty
    np.zeros((1, 1, 3), np.uint8),
    np.zeros((250, 250, 3), object),
    np.zeros(7, np.uint8),                      # 1-d
], ids=["4d", "2ch", "5ch", "int32", "bool", "complex", "float255", "inf", "empty", "1x1", "object", "1d"])
def test_bad_arrays_through_recognizer(rec, arr):
    for call in (rec.face, rec.embed, rec.detect):
        with pytest.raises(ImageError):
            call(arr)


def test_valid_arrays_through_recognizer(rec, face_grey, reference_face):
    # Documented array forms of the same face: (H, W), (H, W, 1), uint16, float in [0, 1], RGBA.
    forms = [face_grey, face_grey[:, :, None], face_grey.astype(np.uint16) * 257,
             face_grey.astype(np.float64) / 255.0,
             np.dstack([np.repeat(face_grey[:, :, None], 3, 2), np.full((250, 250), 255, np.uint8)])]
    for arr in forms:
        f = rec.face(arr)
        assert float(f.embedding @ reference_face.embedding) > 0.9999
    # A negative-stride view (mirrored) is accepted, not misread.
    flipped = np.repeat(face_grey[:, :, None], 3, 2)[:, ::-1]
    assert not flipped.flags.c_contiguous
    ref_flip = rec.face(np.ascontiguousarray(flipped))
    assert float(rec.face(flipped).embedding @ ref_flip.embedding) > 0.9999
