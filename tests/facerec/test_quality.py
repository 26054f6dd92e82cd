"""The face quality rule against independent checks: a known Gaussian blur, a known scale,
a generic 3D face turned by a known yaw, and the product formula written out again."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facerec.alignment import ARCFACE_112, align_face
from facerec.pose import Pose, generic_face
from facerec.quality import (BLURRED, QUALITY_MODEL, QUALITY_MODEL_NORM, THRESHOLDS, TOO_SMALL, TURNED_AWAY, FaceQuality,
                             combine, face_quality, face_size_px, frontalness, quality_features, sharpness, yaw_degrees)
from facerec.types import Detection, Face

TPL = ARCFACE_112.points.astype(np.float64)


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return points @ r.T


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0, 3.7])
@pytest.mark.parametrize("roll", [0.0, 25.0])
def test_size_is_the_known_scale_of_the_template(scale: float, roll: float) -> None:
    lm = _rotate(TPL * scale, roll) + np.array([300.0, -40.0])
    assert face_size_px(lm) == pytest.approx(112.0 * scale, rel=1e-9)


def test_yaw_of_the_generic_face_turned_by_a_known_angle() -> None:
    model = generic_face(ARCFACE_112)
    pts = model.landmarks_3d() if callable(model.landmarks_3d) else model.landmarks_3d
    prev_front = 2.0
    for yaw in (0, 10, 20, 30, 45, 60):
        lm = Pose.frontal(model, yaw=yaw).project(pts)
        lm = _rotate(lm, 15.0) * 2.5  # roll and scale must not matter
        assert yaw_degrees(lm) == pytest.approx(yaw, abs=1.5)
        f = frontalness(lm)
        assert f < prev_front or f == prev_front == 0.0  # the tracker's frontalness falls with yaw (to 0)
        prev_front = f


@pytest.fixture(scope="module")
def lfw_crop(lfw_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """A real LFW photo and 5 landmarks from YuNet's detection of it."""
    from facerec import load_image
    from facerec.detection.bounded import create_detector

    img = load_image(lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg")
    det = create_detector(runtime="onnx").detect(img)
    central = min(det, key=lambda d: float(np.hypot(*(d.center - 125))))
    return img, central.landmarks.astype(np.float64)


def test_gaussian_blur_lowers_sharpness_monotonically(lfw_crop) -> None:
    img, lm = lfw_crop
    values = [sharpness(align_face(cv2.GaussianBlur(img, (0, 0), s) if s else img, lm)) for s in (0, 0.8, 1.5, 2.5, 4)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    heavy = face_quality(align_face(cv2.GaussianBlur(img, (0, 0), 4), lm), lm)
    assert BLURRED in heavy.reasons and heavy.quality < face_quality(align_face(img, lm), lm).quality


def test_a_downscaled_photo_is_too_small_and_of_lower_quality(lfw_crop) -> None:
    img, lm = lfw_crop
    clean = face_quality(align_face(img, lm), lm)
    f = 0.15  # a 37 px copy: the face spans about 21 px
    small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    q = face_quality(align_face(small, lm * f), lm * f)
    assert q.size_px == pytest.approx(clean.size_px * f, rel=1e-6)
    assert TOO_SMALL in q.reasons and TOO_SMALL not in clean.reasons
    assert q.quality < clean.quality and q.low and not clean.low


def test_turned_away_is_reported_beyond_the_calibrated_yaw() -> None:
    model = generic_face(ARCFACE_112)
    pts = model.landmarks_3d() if callable(model.landmarks_3d) else model.landmarks_3d
    crop = np.full((112, 112, 3), 128, np.uint8)
    turned = Pose.frontal(model, yaw=THRESHOLDS.max_yaw + 8).project(pts)
    front = Pose.frontal(model, yaw=max(0.0, THRESHOLDS.max_yaw - 15)).project(pts)
    assert TURNED_AWAY in face_quality(crop, turned).reasons
    assert TURNED_AWAY not in face_quality(crop, front).reasons


def test_tracker_score_is_still_the_product(lfw_crop) -> None:
    img, lm = lfw_crop
    crop = align_face(img, lm)
    box = np.array([60.0, 70.0, 170.0, 150.0])
    q = face_quality(crop, lm, box, sharpness_ref=50.0, size_ref=100.0)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = cv2.filter2D(grey, -1, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float64),
                       borderType=cv2.BORDER_REFLECT_101).var()
    assert q.laplacian == pytest.approx(lap, rel=1e-9)
    expected = lap / (lap + 50.0) * frontalness(lm) * min(1.0, 80.0 / 100.0)
    assert q.score == pytest.approx(expected, rel=1e-9)


def test_face_quality_property_and_json(lfw_crop) -> None:
    img, lm = lfw_crop
    det = Detection(box=np.array([60, 70, 170, 190], np.float32), score=0.0, landmarks=lm.astype(np.float32))
    face = Face(det, align_face(img, lm))
    q = face.quality
    assert isinstance(q, FaceQuality) and face.quality is q  # computed once
    assert "no face detected" in q.reasons  # score 0: the centre-crop fallback
    doc = json.loads(json.dumps(q.to_dict()))
    assert set(doc) == {"quality", "min_quality", "low", "reasons", "size_px", "sharpness", "yaw", "detector_score",
                        "norm"}
    assert doc["quality"] == 0.0 and doc["low"] and doc["norm"] is None  # no norm known: the cheap model
    assert doc["min_quality"] == round(QUALITY_MODEL.min_quality, 4)
    assert FaceQuality.from_dict(doc).to_dict() == doc  # what a remote client reads back


def test_the_norm_selects_its_model_and_a_low_norm_lowers_quality(lfw_crop) -> None:
    img, lm = lfw_crop
    crop = align_face(img, lm)
    plain = face_quality(crop, lm)
    typical, weak = face_quality(crop, lm, norm=1.0), face_quality(crop, lm, norm=0.5)
    assert plain.min_quality == QUALITY_MODEL.min_quality and typical.min_quality == QUALITY_MODEL_NORM.min_quality
    feats = quality_features(plain.size_px, plain.laplacian, plain.yaw, plain.frontal, 1.0)
    assert typical.quality == pytest.approx(float(combine(feats, QUALITY_MODEL_NORM)))
    assert weak.quality < typical.quality  # a less confident embedding: lower quality
