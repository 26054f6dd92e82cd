"""The pose stage (facerec.pose) against geometry computed independently: identity renders,
rotation round trips on a real LFW face, drawn landmark markers against the 3D projection,
the soft-symmetric fill against a surface-normal visibility test, and bad input."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facerec import AlignmentError, ImageError, align_face, load_image
from facerec.alignment import ARCFACE_112, center_crop_landmarks
from facerec.pose import (Pose, estimate_pose, frontalize_crop, generic_face, landmarks_in_crop, render,
                          rotation_matrix, synthesis_yaws)

MODEL = generic_face(ARCFACE_112)


@pytest.fixture(scope="module")
def face_crop(aaron) -> np.ndarray:
    """A real aligned 112×112 face (LFW's faces are centred: the fixed centre-crop landmarks
    align it without a detector)."""
    rgb = load_image(aaron)
    return align_face(rgb, center_crop_landmarks(rgb.shape[1], rgb.shape[0]))


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (25, 0), (-20, 10)])
def test_same_pose_returns_the_input(face_crop, yaw, pitch):
    pose = Pose.frontal(MODEL, yaw, pitch)
    r = render(face_crop, MODEL, pose, pose)
    assert not r.hidden.any()
    assert np.abs(r.image.astype(int) - face_crop).max() <= 1  # interpolation at (almost) integer positions


@pytest.mark.parametrize("yaw,pitch", [(15, 0), (30, 0), (-30, 10)])
def test_rotate_and_back_returns_close_to_the_start(face_crop, yaw, pitch):
    front, turned = Pose.frontal(MODEL), Pose.frontal(MODEL, yaw, pitch)
    there = render(face_crop, MODEL, front, turned)
    back = render(there.image, MODEL, turned, front)
    h, w = face_crop.shape[:2]
    # Pixels seen in both renders, sampled from inside the crops (not from mirrored borders).
    mx, my = back.map_x.round().astype(int).clip(0, w - 1), back.map_y.round().astype(int).clip(0, h - 1)
    ok = ~back.hidden & ~there.hidden[my, mx] & (back.map_x > 2) & (back.map_x < w - 3)
    ok &= (there.map_x[my, mx] > 2) & (there.map_x[my, mx] < w - 3)
    ok = cv2.erode(ok.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert ok.mean() > 0.6
    err = np.abs(back.image.astype(float) - face_crop)[ok].mean()
    moved = np.abs(there.image.astype(float) - face_crop)[ok].mean()
    assert err < 6.0 and err < 0.4 * moved  # two bilinear resamplings blur; the rotation itself is undone


@pytest.mark.parametrize("yaw,pitch", [(25, 0), (-35, 8)])
def test_rendered_landmarks_land_on_their_3d_projection(yaw, pitch):
    # Coloured discs at the template landmarks of a black frontal crop, then rendered.
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255)]
    crop = np.zeros((112, 112, 3), np.uint8)
    for (x, y), c in zip(ARCFACE_112.points, colours):
        cv2.circle(crop, (int(round(x * 16)), int(round(y * 16))), 32, c, -1, cv2.LINE_AA, shift=4)  # r = 2 px
    target = Pose.frontal(MODEL, yaw, pitch)
    out = render(crop, MODEL, Pose.frontal(MODEL), target, fill=False).image.astype(float)
    expected = target.project(MODEL.landmarks_3d())
    ys, xs = np.mgrid[0:112, 0:112]
    for c, exp in zip(colours, expected):
        weight = np.clip(1 - np.abs(out - c).max(axis=2) / 128.0, 0, None)  # near the disc's colour
        centroid = np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()
        # A disc on a slope is foreshortened unevenly, so its centroid may drift a little; a wrong
        # depth would move it by several pixels (the nose tip by 7.8 px at yaw 35).
        assert np.linalg.norm(centroid - exp) < 1.0, (c, centroid, exp)


def test_landmarks_shift_as_the_head_turns():
    # Independent of the renderer: positive yaw moves the nose tip right of the eyes' midpoint.
    lm = Pose.frontal(MODEL, 30).project(MODEL.landmarks_3d())
    assert lm[2, 0] > (lm[0, 0] + lm[1, 0]) / 2 + 5
    lm = Pose.frontal(MODEL, 0, 20).project(MODEL.landmarks_3d())
    assert lm[2, 1] < ARCFACE_112.points[2, 1] - 3  # pitch up: nose rises


@pytest.mark.parametrize("yaw,pitch,roll,scale,shift", [(20, -10, 5, 1.1, (3, -2)), (-40, 5, -8, 0.9, (0, 0)),
                                                       (0, 0, 0, 1.0, (0, 0))])
def test_solvepnp_recovers_a_known_pose(yaw, pitch, roll, scale, shift):
    true = Pose(rotation_matrix(yaw, pitch, roll), scale, MODEL.origin + np.array(shift))
    est = estimate_pose(true.project(MODEL.landmarks_3d()), MODEL)
    assert est.yaw == pytest.approx(yaw, abs=1.5) and est.pitch == pytest.approx(pitch, abs=1.5)
    assert est.roll == pytest.approx(roll, abs=1.5) and est.scale == pytest.approx(scale, rel=0.02)


def test_landmarks_in_crop_are_the_template_for_template_landmarks():
    m = cv2.getRotationMatrix2D((30, 40), 17, 2.5)
    img_lm = ARCFACE_112.points @ m[:, :2].T + m[:, 2]
    assert np.allclose(landmarks_in_crop(img_lm, ARCFACE_112), ARCFACE_112.points, atol=1e-4)


def test_pose_in_image_projects_through_the_alignment():
    m = cv2.getRotationMatrix2D((60, 50), -12, 0.6)  # some image → crop similarity
    pose = Pose.frontal(MODEL, 20, -5)
    pts = MODEL.landmarks_3d()
    in_img = pose.in_image(m).project(pts)
    assert np.allclose(in_img @ m[:, :2].T + m[:, 2], pose.project(pts), atol=1e-6)


def _backfacing(source: Pose, pts: np.ndarray) -> np.ndarray:
    """Surface points whose normal (finite differences of the surface) turns away from the view."""
    e = 0.25
    dzdx = (MODEL.surface_z(pts[:, 0] + e, pts[:, 1]) - MODEL.surface_z(pts[:, 0] - e, pts[:, 1])) / (2 * e)
    dzdy = (MODEL.surface_z(pts[:, 0], pts[:, 1] + e) - MODEL.surface_z(pts[:, 0], pts[:, 1] - e)) / (2 * e)
    normal = np.column_stack([dzdx, dzdy, -np.ones_like(dzdx)])  # outward (towards the camera is −Z)
    view = source.rotation.T @ np.array([0.0, 0.0, 1.0])  # camera looks along +Z_cam
    return normal @ view > 0.05 * np.linalg.norm(normal, axis=1)


def test_symmetric_fill_touches_only_hidden_pixels(face_crop):
    source, front = Pose.frontal(MODEL, 55), Pose.frontal(MODEL)  # treat the crop as seen at yaw 55
    filled = render(face_crop, MODEL, source, front, fill=True)
    plain = render(face_crop, MODEL, source, front, fill=False)
    changed = (filled.image != plain.image).any(axis=2)
    assert np.array_equal(filled.hidden, plain.hidden)
    assert changed.any() and not (changed & ~filled.hidden).any()
    assert not (filled.filled[~filled.hidden] > 0).any()
    # Hidden = what the yaw-55 view could not see: the far (image-right) side of the face ...
    ys, xs = np.nonzero(filled.hidden)
    assert xs.mean() > MODEL.origin[0] + 10
    # ... and every surface point facing away from that view is among them.
    xs_all, ys_all = np.meshgrid(np.arange(112.0), np.arange(112.0))
    x, y = xs_all.ravel() - MODEL.origin[0], ys_all.ravel() - MODEL.origin[1]
    pts = np.column_stack([x, y, MODEL.surface_z(x, y)])
    back = _backfacing(source, pts).reshape(112, 112)
    assert back.sum() > 50 and filled.hidden[back].mean() > 0.98


def test_frontal_source_hides_nothing_at_moderate_yaw(face_crop):
    r = frontalize_crop(face_crop)  # no landmarks: already the template's frontal view
    assert not r.hidden.any() and np.abs(r.image.astype(int) - face_crop).max() <= 1


def test_synthesis_yaws():
    assert synthesis_yaws(0) == [] and synthesis_yaws(2) == [30.0, -30.0]
    assert synthesis_yaws(4, 40) == [20.0, -20.0, 40.0, -40.0]
    assert synthesis_yaws(3) == [15.0, -15.0, 30.0]
    with pytest.raises(ValueError):
        synthesis_yaws(-1)


@pytest.mark.parametrize("landmarks,match", [
    (np.full((5, 2), np.nan), "finite"),
    (np.zeros((4, 2)), "5 finite"),
    (np.column_stack([np.linspace(20, 90, 5), np.full(5, 60.0)]), "pose|fit"),  # all on one line
    (np.array(ARCFACE_112.points) + [[0, 0], [0, 0], [45, 0], [0, 0], [0, 0]], "pose|fit"),  # nose off the face
])
def test_bad_landmarks_raise_alignment_error(landmarks, match):
    with pytest.raises(AlignmentError, match=match):
        estimate_pose(landmarks, MODEL)


def test_bad_images_raise_image_error():
    with pytest.raises(ImageError):
        render(np.zeros((112, 112, 3), np.float32), MODEL, Pose.frontal(MODEL), Pose.frontal(MODEL))
    with pytest.raises(ImageError):
        frontalize_crop(np.zeros((50, 70, 3), np.uint8))
