"""Face selection rules (one home: facerec.detection.detector.choose_face, over Detection.area, pick_largest, pick_central) and the
recognizer's batched and verify-with-faces calls, on real LFW photos (ONNX runtime: no torch)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facerec import Detection, FaceRecognizer, MultipleFacesError, NoFaceError
from facerec.detection.detector import choose_face, pick_central, pick_largest


def _det(x1, y1, x2, y2, score=0.99) -> Detection:
    return Detection(box=np.array([x1, y1, x2, y2], np.float32), score=score, landmarks=np.zeros((5, 2), np.float32))


def test_area_and_pick_rules_by_hand():
    small, big, central = _det(0, 0, 10, 20), _det(100, 100, 160, 150), _det(45, 45, 55, 56)
    assert small.area == 200.0 and big.area == 3000.0 and _det(5, 5, 3, 9).area == 0.0  # degenerate: 0
    assert pick_largest([small, big, central]) is big
    assert pick_central([small, big, central], 100, 100) is central
    assert pick_largest([]) is None and pick_central([], 10, 10) is None
    # choose_face: the one rule every caller uses (recognizer, gallery, prepare, evaluation, frontalize)
    assert choose_face([small, big, central], "largest") is big
    assert choose_face([small, big, central], "central", 100, 100) is central
    assert choose_face([small], "only") is small and choose_face([], "only") is None
    with pytest.raises(MultipleFacesError):
        choose_face([small, big], "only")
    with pytest.raises(ValueError):
        choose_face([small, big], "biggest")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rec() -> FaceRecognizer:
    return FaceRecognizer.load(model="facerec-mbf-v2", runtime="onnx")


def test_face_batch_equals_one_by_one(rec, lfw_dir):
    paths = [lfw_dir / p for p in ("Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg",
                                   "Tony_Blair/Tony_Blair_0010.jpg")]
    batch = rec.face_batch(paths)
    for p, f in zip(paths, batch):
        one = rec.face(p)
        np.testing.assert_array_equal(f.crop, one.crop)
        np.testing.assert_allclose(f.embedding, one.embedding, atol=1e-5)


def test_verify_hands_back_the_faces_it_compared(rec, lfw_dir, aaron):
    other = lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"
    res = rec.verify(aaron, other)
    fa, fb = res.faces
    np.testing.assert_array_equal(fa.crop, rec.face(aaron).crop)
    np.testing.assert_array_equal(fb.crop, rec.face(other).crop)
    assert abs(float(fa.embedding @ fb.embedding) - res.score) < 1e-5
    d = res.to_dict()
    # the format of before, plus each face's quality
    assert {k: d[k] for k in ("same", "score", "threshold")} == {"same": res.same, "score": res.score,
                                                                 "threshold": res.threshold}
    assert set(d) == {"same", "score", "threshold", "quality"}
    assert d["quality"]["a"] == fa.quality.to_dict() and d["quality"]["b"] == fb.quality.to_dict()


def test_largest_face_chosen_and_fallback(rec, aaron):
    face = np.asarray(Image.open(aaron).convert("RGB"))
    small = np.asarray(Image.fromarray(face).resize((150, 150)))
    scene = np.full((260, 420, 3), 120, np.uint8)
    scene[5:255, 0:250], scene[50:200, 260:410] = face, small  # a big and a small copy
    dets = rec.detect(scene)
    assert len(dets) == 2
    assert rec.face(scene).detection.box[0] < 200  # the big (left) one
    blank = np.full((250, 250, 3), 127, np.uint8)
    with pytest.raises(NoFaceError) as info:
        rec.verify(aaron, blank)
    assert info.value.image_index == 1
    res = rec.verify(aaron, blank, fallback_center=True)
    assert res.faces[1].detection.score == 0.0 and res.faces[0].detection.score > 0.9
