"""Image loading across modes, EXIF orientation, numpy inputs and bad files."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facerec import ImageError, ImageTooLarge, load_image
from facerec.io.image import MAX_PIXELS


def _gradient(w: int = 40, h: int = 30) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return np.stack([x, y, 255 - x], axis=2).astype(np.uint8)


def _save(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgb_roundtrip_path_bytes_pil_array(tmp_path):
    arr = _gradient()
    p = tmp_path / "a.png"
    Image.fromarray(arr).save(p)
    for src in (p, str(p), p.read_bytes(), Image.open(p), arr):
        out = load_image(src)
        assert out.dtype == np.uint8 and out.shape == (30, 40, 3)
        np.testing.assert_array_equal(out, arr)


def test_grey_and_16bit_become_three_equal_channels():
    grey = (np.arange(30 * 40) % 256).astype(np.uint8).reshape(30, 40)
    out = load_image(Image.fromarray(grey, mode="L"))
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, 2))
    g16 = grey.astype(np.uint16) * 257  # 8-bit value v ↦ 16-bit v·257 exactly
    out16 = load_image(Image.open(io.BytesIO(_save(Image.fromarray(g16)))))
    np.testing.assert_array_equal(out16[:, :, 0], grey)
    np.testing.assert_array_equal(load_image(g16), np.repeat(grey[:, :, None], 3, 2))


def test_cmyk_palette_rgba():
    arr = _gradient()
    cmyk = Image.fromarray(arr).convert("CMYK")
    out = load_image(Image.open(io.BytesIO(_save(cmyk, "JPEG", quality=100))))
    assert np.abs(out.astype(int) - arr).mean() < 8  # JPEG + CMYK round trip
    pal = Image.fromarray(arr).convert("P")
    np.testing.assert_array_equal(load_image(pal), np.asarray(pal.convert("RGB")))
    rgba = np.dstack([arr, np.full(arr.shape[:2], 255, np.uint8)])
    rgba[:, :20, 3] = 0  # left half transparent → white background
    out = load_image(Image.fromarray(rgba, "RGBA"))
    assert (out[:, :20] == 255).all()
    np.testing.assert_array_equal(out[:, 20:], arr[:, 20:])
    np.testing.assert_array_equal(load_image(rgba), out)


def test_exif_orientation_applied():
    arr = _gradient(40, 30)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90° CW to display"
    out = load_image(_save(img, "JPEG", quality=100, exif=exif.tobytes()))
    assert out.shape == (40, 30, 3)
    expected = np.rot90(arr, k=-1)
    assert np.abs(out.astype(int) - expected).mean() < 4


def test_animated_gif_first_frame():
    frames = [Image.fromarray(np.full((20, 20, 3), v, np.uint8)) for v in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = load_image(buf.getvalue())
    assert out.shape == (20, 20, 3) and abs(int(out.mean()) - 10) <= 2


@pytest.mark.parametrize("content", [b"", b"hello, I am text", b"\xff\xd8\xff\xe0garbage"])
def test_bad_files(tmp_path, content):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageError):
        load_image(p)


def test_truncated_jpeg(tmp_path):
    data = _save(Image.fromarray(_gradient(200, 200)), "JPEG")
    p = tmp_path / "trunc.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError):
        load_image(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_size_limits():
    with pytest.raises(ImageError, match="too small"):
        load_image(np.zeros((1, 1, 3), np.uint8))
    # A PNG header claiming 20000×20000 is refused before decoding (no 1.2 GB allocation).
    big = Image.new("L", (20000, 20000))
    assert 20000 * 20000 > MAX_PIXELS
    with pytest.raises(ImageError, match="exceeds"):
        load_image(_save(big, "PNG", compress_level=1))


@pytest.mark.parametrize("arr", [np.zeros((10, 20, 30, 3), np.uint8), np.zeros((30, 30, 2), np.uint8),
                                 np.zeros((30, 30, 3), np.int64), np.full((30, 30), 2.0),
                                 np.full((30, 30), np.nan)])
def test_bad_arrays(arr):
    with pytest.raises(ImageError):
        load_image(arr)


def test_unsupported_type():
    with pytest.raises(ImageError):
        load_image(12345)  # type: ignore[arg-type]


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_one_open_one_pixel_check_under_the_callers_limit(monkeypatch):
    """The service's upload path: a lower pixel limit, a format allow-list and the caller's
    name for the file, all applied while the image is opened once."""
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(k.get("formats")) or real_open(*a, **k))
    rgb = load_image(_png(20, 12), max_pixels=240, formats=["PNG"], what="up.png")
    assert rgb.shape == (12, 20, 3) and opened == [["PNG"]]
    with pytest.raises(ImageTooLarge, match=r"^up\.png: 20x13 exceeds the limit of 240 pixels$"):
        load_image(_png(20, 13), max_pixels=240, what="up.png")
    assert issubclass(ImageTooLarge, ImageError)
    with pytest.raises(ImageError, match=r"^up\.png: not a supported image \(JPEG\)$"):
        load_image(_png(20, 12), formats=["JPEG"], what="up.png")
    with pytest.raises(ImageError, match=r"^up\.png: empty file$"):
        load_image(b"", what="up.png")
    # A limit above MAX_PIXELS does not raise the library's own guard.
    with pytest.raises(ImageTooLarge, match=f"{MAX_PIXELS:,}"):
        load_image(np.zeros((MAX_PIXELS // 1000 + 1, 1000), np.uint8), max_pixels=10 * MAX_PIXELS)
