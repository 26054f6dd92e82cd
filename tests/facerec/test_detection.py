"""MTCNN on real LFW faces: one face, plausible landmarks, original-image coordinates."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facerec import MTCNNConfig
from facerec.detection.detector import _to_detections, pick_central

LFW_SAMPLES = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg",
               "Colin_Powell/Colin_Powell_0001.jpg", "Gloria_Macapagal_Arroyo/Gloria_Macapagal_Arroyo_0001.jpg"]


def _plausible(det, width: int, height: int) -> None:
    x1, y1, x2, y2 = det.box
    le, re, nose, ml, mr = det.landmarks
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert x1 <= nose[0] <= x2 and y1 <= nose[1] <= y2
    assert le[0] < re[0] and ml[0] < mr[0]          # left/right as seen in the image
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])  # eyes above nose above mouth
    assert 0.9 <= det.score <= 1.0


@pytest.mark.parametrize("rel", LFW_SAMPLES)
def test_one_face_on_lfw(mtcnn, lfw_dir, rel):
    dets = mtcnn.detect(lfw_dir / rel)
    centre = pick_central(dets, 250, 250)
    assert centre is not None
    _plausible(centre, 250, 250)
    # LFW images are centred on the labelled subject.
    assert np.linalg.norm(centre.center - 125) < 30
    if rel.startswith("Aaron"):
        assert len(dets) == 1


def test_coordinates_follow_the_image(mtcnn, aaron):
    """Padding the image by (dx, dy) shifts boxes and landmarks by exactly that offset."""
    img = np.asarray(Image.open(aaron).convert("RGB"))
    base = mtcnn.detect(img)[0]
    padded = np.zeros((400, 450, 3), np.uint8)
    padded[100:350, 150:400] = img
    moved = max(mtcnn.detect(padded), key=lambda d: d.score)
    np.testing.assert_allclose(moved.landmarks, base.landmarks + [150, 100], atol=3.0)


def test_exif_rotated_file_detects_upright(mtcnn, aaron, tmp_path):
    img = Image.open(aaron).convert("RGB")
    rotated = img.rotate(90, expand=True)  # stored sideways ...
    exif = rotated.getexif()
    exif[0x0112] = 6  # ... with the EXIF tag saying "rotate 90° CW to display"
    p = tmp_path / "sideways.jpg"
    rotated.save(p, quality=95, exif=exif.tobytes())
    det = mtcnn.detect(p)[0]
    _plausible(det, 250, 250)


def test_no_face_on_blank(mtcnn):
    assert mtcnn.detect(np.full((200, 200, 3), 128, np.uint8)) == []


def test_numpy2_object_arrays_converted():
    boxes = np.array([[1.0, 2.0, 30.0, 40.0]], dtype=object)
    probs = np.array([0.99], dtype=object)
    pts = np.array([[[5, 6], [20, 6], [12, 15], [7, 25], [18, 25]]], dtype=object)
    (d,) = _to_detections(boxes, probs, pts, 0.9)
    assert d.box.dtype == np.float32 and d.landmarks.shape == (5, 2)
    assert _to_detections(None, np.array([None], dtype=object), None, 0.9) == []


def test_config_validation():
    with pytest.raises(ValueError):
        MTCNNConfig(min_face_size=5)
    with pytest.raises(ValueError):
        MTCNNConfig(factor=1.5)
