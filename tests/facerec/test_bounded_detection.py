"""The bounded-cost detection rule (facerec.detection.bounded, facerec.io.photo) and the named detectors.

Oracles: PIL's own reduced JPEG decode, the same detector on the original small photo (boxes
mapped by the pixel-centre formula written here), MTCNN's landmarks for YuNet + O-Net, and the
embedding of a crop aligned from the full decode.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec.alignment import align_face
from facerec.detection.bounded import BoundedDetector, create_detector, crop_face
from facerec.errors import ImageError, ModelError
from facerec.io.image import load_image
from facerec.models.detectors import DEFAULT_DETECTOR, DETECTOR_ENV, DETECTORS, get_detector
from facerec.models.registry import PACKAGED_WEIGHTS
from facerec.io.photo import open_photo

PEOPLE = ("Aaron_Peirsol/Aaron_Peirsol_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg",
          "Serena_Williams/Serena_Williams_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg")


@pytest.fixture(scope="module")
def group(lfw_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """A small 'group photo' of four real LFW faces side by side (1000×250) and the same photo
    upscaled 8× to a phone-size 8000×2000 JPEG (16 MP)."""
    out = tmp_path_factory.mktemp("group")
    row = np.concatenate([load_image(lfw_dir / p) for p in PEOPLE], axis=1)
    small = out / "group.jpg"
    Image.fromarray(row).save(small, quality=95)
    big = out / "group_16mp.jpg"
    Image.fromarray(row).resize((row.shape[1] * 8, row.shape[0] * 8), Image.LANCZOS).save(big, quality=90)
    return small, big


def test_photo_decodes_the_level_asked_for_like_pil_draft(group):
    _, big = group
    photo = open_photo(big)
    assert photo.size == (8000, 2000) and photo.decoded_levels == ()  # header only so far
    rgb, s = photo.at_scale(0.2)  # the coarsest DCT level >= 0.2 is 1/4
    assert rgb.shape == (500, 2000, 3) and s == 0.25
    with Image.open(big) as im:  # oracle: PIL's own reduced decode
        im.draft("RGB", (2000, 500))
        ref = np.asarray(im.convert("RGB"))
    assert np.array_equal(rgb, ref)
    assert photo.at_scale(0.3)[1] == 0.5 and photo.decoded_levels == (0.25, 0.5)
    assert photo.at_scale(0.26)[1] == 0.5  # a finer level already decoded serves, no new decode
    assert photo.decoded_levels == (0.25, 0.5)
    assert np.array_equal(photo.full(), load_image(big))


@pytest.mark.parametrize("size", [(4248, 2825), (4001, 3001), (999, 757)])
def test_photo_levels_of_odd_sizes(tmp_path, aaron, size):
    path = tmp_path / "odd.jpg"
    Image.fromarray(load_image(aaron)).resize(size).save(path, quality=90)
    for level in (0.5, 0.25, 0.125):  # libjpeg rounds a scaled side up: ceil(side * level)
        rgb, s = open_photo(path).at_scale(level)  # a fresh photo: no finer level decoded yet
        assert rgb.shape[:2] == (int(np.ceil(size[1] * level)), int(np.ceil(size[0] * level)))
        assert s == pytest.approx(level, rel=2e-3)


def test_photo_exif_orientation_swaps_the_size(tmp_path, aaron):
    rgb = load_image(aaron)[:, :200]  # 250 high, 200 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(rgb).save(path, exif=exif.tobytes(), quality=95)
    photo = open_photo(path)
    assert photo.size == (250, 200)
    assert photo.full().shape == (200, 250, 3)
    assert np.array_equal(photo.full(), load_image(path))  # the one loader agrees


def test_photo_refuses_bad_input_before_decoding(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        open_photo(tmp_path / "missing.jpg")
    bad = tmp_path / "truncated.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(noise).save(bad, quality=90)
    bad.write_bytes(bad.read_bytes()[:len(bad.read_bytes()) // 2])  # the pixels cut off half-way
    photo = open_photo(bad)  # the header is intact
    with pytest.raises(ImageError, match="cannot decode"):
        photo.at_scale(0.5)


@pytest.mark.parametrize("name", ["yunet", "mtcnn"])
def test_bounded_detection_maps_back_to_the_original_pixels(group, name):
    small, big = group
    on_small = create_detector(name, detect_side=0).detect(small)
    photo = open_photo(big)
    on_big = create_detector(name, detect_side=1000).detect(photo)  # sees a 1000×250 copy
    assert 1.0 not in photo.decoded_levels  # the 16 MP photo was never decoded in full
    assert len(on_small) == len(on_big) == 4
    key = lambda d: float(d.box[0])  # noqa: E731  (left to right)
    for a, b in zip(sorted(on_small, key=key), sorted(on_big, key=key)):
        expected = (a.landmarks + 0.5) * 8 - 0.5  # pixel centres of a copy 8x smaller
        # The copies differ (Lanczos up, DCT-domain down): within 1.5 px of the small photo.
        assert np.abs(b.landmarks - expected).max() < 1.5 * 8
        assert np.abs(b.box - ((a.box + 0.5) * 8 - 0.5)).max() < 3 * 8


def test_detect_side_zero_is_full_resolution_and_default_comes_from_the_registry(group):
    small, _ = group
    det = create_detector("yunet", detect_side=0)
    full = det.detect(small)
    direct = det.inner.detect(load_image(small))  # the network on the image itself
    assert [d.box.tolist() for d in full] == [d.box.tolist() for d in direct]
    with pytest.raises(ValueError):
        BoundedDetector(det.inner, "yunet", -1)


def test_the_copy_grows_for_big_photos_within_the_cost_bound():
    yunet, mtcnn = create_detector("yunet"), create_detector("mtcnn")
    spec = DETECTORS["yunet"]
    assert yunet.side_for(1000) == 1000  # a small photo is seen whole
    assert yunet.side_for(4032) == spec.detect_side  # 12 MP: a 40-px face is >= 12 px at 1280
    # 48 MP (8000 px): a 40-px face must be `smallest_face` px in the copy: 8000 * 12 / 40.
    assert yunet.side_for(8000) == 8000 * spec.smallest_face // 40 == 2400
    assert yunet.side_for(20000) == spec.max_detect_side  # the cost bound wins
    assert mtcnn.side_for(8000) == DETECTORS["mtcnn"].max_detect_side == 1280
    assert create_detector("yunet", detect_side=640).side_for(8000) == 640  # a fixed bound
    assert create_detector("yunet", detect_side=0).side_for(8000) == 8000


def test_crop_from_a_reduced_level_embeds_like_the_full_decode(group, installed_model):
    from facerec import FaceRecognizer

    installed_model("sface")
    _, big = group
    rec = FaceRecognizer.load(model="sface")
    photo = open_photo(big)
    dets = rec.detector.detect(photo)
    tpl = rec.embedder.preprocessing.template
    reduced = np.stack([crop_face(photo, d.landmarks, tpl, align_face) for d in dets])
    assert 1.0 not in photo.decoded_levels  # faces ~800 px wide: aligned from a reduced level
    whole = np.stack([align_face(load_image(big), d.landmarks, tpl) for d in dets])
    cos = np.sum(rec.embedder.embed(reduced) * rec.embedder.embed(whole), axis=1)
    assert cos.min() > 0.97, cos


def test_yunet_with_onet_landmarks_is_close_to_mtcnn(lfw_dir):
    files = sorted(lfw_dir.glob("*/*_0001.jpg"))[:40:2]
    yunet, mtcnn = create_detector("yunet"), create_detector("mtcnn")
    raw = create_detector("yunet")
    raw.inner.config = type(raw.inner.config)(refine=False)
    err_refined, err_raw = [], []
    for f in files:
        m = mtcnn.detect(f)
        y, r = yunet.detect(f), raw.detect(f)
        if not m or not y or not r:
            continue
        c = np.array([125.0, 125.0])
        pick = lambda ds: min(ds, key=lambda d: float(np.sum((d.center - c) ** 2)))  # noqa: E731
        ref = pick(m).landmarks
        err_refined.append(np.linalg.norm(pick(y).landmarks - ref, axis=1).mean())
        err_raw.append(np.linalg.norm(pick(r).landmarks - ref, axis=1).mean())
    assert len(err_refined) >= 15
    # O-Net's landmarks on YuNet's box land near MTCNN's own (the same network on a similar box),
    # and nearer than YuNet's landmarks do.
    assert np.median(err_refined) < 2.0 and np.median(err_refined) < np.median(err_raw), (err_refined, err_raw)


def test_detector_registry_files_names_and_environment(monkeypatch):
    for spec in DETECTORS.values():
        for name, digest in spec.files.items():
            assert hashlib.sha256((PACKAGED_WEIGHTS / name).read_bytes()).hexdigest() == digest
        spec.verify_files()
        assert spec.card_path.is_file()
    # The upstream YuNet 2023mar file (OpenCV Zoo), 232,589 bytes.
    assert (PACKAGED_WEIGHTS / "yunet_2023mar.onnx").stat().st_size == 232_589
    monkeypatch.delenv(DETECTOR_ENV, raising=False)
    assert get_detector().name == DEFAULT_DETECTOR
    monkeypatch.setenv(DETECTOR_ENV, "mtcnn")
    assert get_detector().name == "mtcnn" and create_detector().name == "mtcnn"
    with pytest.raises(ModelError, match="unknown detector 'dlib'"):
        get_detector("dlib")


def test_cli_detect_takes_a_named_detector(group, capsys):
    from pipelines.cli import main

    small, _ = group
    found = {}
    for name in ("yunet", "mtcnn"):
        assert main(["detect", str(small), "--json", "--detector", name]) == 0
        found[name] = json.loads(capsys.readouterr().out)["faces"]
    assert len(found["yunet"]) == len(found["mtcnn"]) == 4


def test_gallery_records_its_detector(group, tmp_path, installed_model):
    from facerec import FaceRecognizer
    from facerec.gallery import Gallery
    from facerec.gallery.faiss_gallery import gallery_detector

    installed_model("sface")
    small, _ = group
    rec = FaceRecognizer.load(model="sface", detector="mtcnn")
    g = Gallery(rec)
    g.enroll("group", small, face="largest")
    g.save(tmp_path / "g")
    assert gallery_detector(tmp_path / "g") == "mtcnn"
    assert Gallery.load(tmp_path / "g").detector_name == "mtcnn"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_photo_decodes_every_exif_orientation_like_pil(tmp_path, aaron, orientation):
    """OpenCV decodes plain JPEGs (orientation applied by facerec.io.photo.orient): the result
    equals PIL's exif_transpose of its own decode, at full size and at a reduced level."""
    from PIL import ImageOps

    rgb = load_image(aaron)[:, :200]
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(rgb).save(path, exif=exif.tobytes(), quality=95)
    with Image.open(path) as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    photo = open_photo(path)
    assert photo.decoded_levels == () and photo.size == (ref.shape[1], ref.shape[0])  # not decoded yet
    assert np.array_equal(photo.full(), ref)
    with Image.open(path) as im:
        im.draft("RGB", (im.width // 2, im.height // 2))
        half = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.array_equal(open_photo(path).at_scale(0.5)[0], half)


def test_photo_with_data_after_the_image_goes_through_pil(tmp_path, aaron):
    data = aaron.read_bytes() + b"trailer"
    photo = open_photo(data)
    assert photo._decode_cv2(1.0) is None  # no end-of-image marker at the end: PIL decodes
    assert np.array_equal(photo.full(), load_image(aaron))


def test_a_non_jpeg_is_decoded_once_at_open_and_a_broken_one_refused(monkeypatch):
    """A PNG has no reduced levels: open_photo decodes it then, from its one open (PIL's count
    of opens), and a PNG whose pixel data is broken is refused there, not read as grey."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 90, 60)).save(buf, format="PNG")
    good = buf.getvalue()
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    photo = open_photo(good)
    assert photo.decoded_levels == (1.0,) and len(opened) == 1
    assert np.array_equal(photo.full()[0, 0], [120, 90, 60]) and len(opened) == 1
    broken = bytearray(good)
    idat = broken.find(b"IDAT")
    broken[idat + 8: idat + 20] = b"\xff" * 12  # header intact, pixel data broken
    with pytest.raises(ImageError, match="cannot decode image"):
        open_photo(bytes(broken))
