"""Similarity alignment: templates map onto themselves, known transforms are undone."""
from __future__ import annotations

import math

import numpy as np
import pytest

from facerec import ARCFACE_112, SPHEREFACE_112x96, AlignmentError, align_face, estimate_similarity
from facerec.alignment import center_crop_landmarks, get_template


def _similarity(angle: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize("tpl", [ARCFACE_112, SPHEREFACE_112x96])
def test_template_onto_itself_is_identity(tpl):
    m = estimate_similarity(tpl.points, tpl.points)
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


@pytest.mark.parametrize("angle,scale,tx,ty", [(0.3, 2.5, 40.0, -7.0), (-1.2, 0.4, 3.0, 90.0), (math.pi - 0.01, 1.0, 0, 0)])
def test_known_transform_is_undone(angle, scale, tx, ty):
    fwd = _similarity(angle, scale, tx, ty)
    src = _apply(fwd, ARCFACE_112.points.astype(np.float64))  # template moved into an "image"
    m = estimate_similarity(src, ARCFACE_112.points)
    # The inverse of a similarity: rotation −angle, scale 1/scale.
    np.testing.assert_allclose(m[:, :2], _similarity(-angle, 1 / scale, 0, 0)[:, :2], atol=1e-6)
    np.testing.assert_allclose(_apply(m, src), ARCFACE_112.points, atol=1e-4)


def test_least_squares_with_noise_matches_lstsq():
    """Noisy points: our closed form equals a generic least-squares fit of [a −b tx; b a ty]."""
    rng = np.random.default_rng(0)
    src = _apply(_similarity(0.2, 1.7, 10, 20), ARCFACE_112.points.astype(np.float64)) + rng.normal(0, 2, (5, 2))
    dst = ARCFACE_112.points.astype(np.float64)
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    np.testing.assert_allclose(estimate_similarity(src, dst), [[a, -b, tx], [b, a, ty]], atol=1e-8)


def test_no_reflection():
    mirrored = ARCFACE_112.points * np.array([-1, 1], np.float32)
    m = estimate_similarity(mirrored, ARCFACE_112.points)
    assert np.linalg.det(m[:, :2]) > 0


@pytest.mark.parametrize("pts", [np.full((5, 2), 50.0), np.array([[np.nan, 1]] * 5), np.zeros((3, 3))])
def test_degenerate_landmarks_raise(pts):
    with pytest.raises(AlignmentError):
        estimate_similarity(pts, ARCFACE_112.points[: len(pts)] if pts.shape[1] == 2 else ARCFACE_112.points)


def test_align_face_moves_marked_pixels_onto_template():
    """Dots drawn at rotated/scaled landmark positions end up at the template points."""
    fwd = _similarity(0.4, 2.0, 120, 60)
    lms = _apply(fwd, ARCFACE_112.points.astype(np.float64))
    img = np.zeros((400, 400, 3), np.uint8)
    for x, y in lms:
        img[int(round(y)) - 2:int(round(y)) + 3, int(round(x)) - 2:int(round(x)) + 3] = 255
    crop = align_face(img, lms, "arcface_112")
    assert crop.shape == (112, 112, 3)
    for x, y in ARCFACE_112.points:
        assert crop[int(round(y)), int(round(x))].min() > 100


def test_sphereface_crop_shape_and_unknown_template():
    img = np.zeros((200, 200, 3), np.uint8)
    assert align_face(img, SPHEREFACE_112x96.points + 20, SPHEREFACE_112x96).shape == (112, 96, 3)
    with pytest.raises(ValueError):
        get_template("nope")


def test_center_crop_landmarks_are_centred():
    lm = center_crop_landmarks(250, 250)
    eyes_mid = lm[:2].mean(0)
    assert abs(eyes_mid[0] - 125) < 1.5 and 80 < eyes_mid[1] < 125
