"""5-point face alignment: the landmark templates and the similarity warp, in one place.

A face is aligned by the least-squares similarity transform (rotation, uniform scale,
translation; no reflection) that maps its 5 detected landmarks onto a template, solved in
closed form (Umeyama 1991), then warped with OpenCV.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facerec.errors import AlignmentError


@dataclass(frozen=True)
class Template:
    """Target landmark positions ``points`` (5, 2) for an output crop of ``size`` (width, height)."""

    name: str
    size: tuple[int, int]
    points: np.ndarray


# ArcFace / insightface 112×112 template (left eye, right eye, nose, mouth left, mouth right).
ARCFACE_112 = Template(
    "arcface_112",
    (112, 112),
    np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
              [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32),
)
# SphereFace / CosFace 96×112 template (width 96, height 112): ArcFace's shifted by −8 px in x.
SPHEREFACE_112x96 = Template(
    "sphereface_112x96",
    (96, 112),
    np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366],
              [33.5493, 92.3655], [62.7299, 92.2041]], dtype=np.float32),
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (ARCFACE_112, SPHEREFACE_112x96)}


def get_template(name: str) -> Template:
    """Look up a template by name; raise ``ValueError`` listing the known ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown alignment template {name!r}; known: {sorted(TEMPLATES)}") from None


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform mapping ``src`` (N, 2) onto ``dst`` (N, 2).

    Returns the (2, 3) affine matrix ``[s·R | t]``. Raises :class:`AlignmentError` when the
    source points are non-finite or (nearly) coincident, where no scale is defined.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise AlignmentError(f"landmarks must be (N>=2, 2) and match the template; got {src.shape} vs {dst.shape}")
    if not np.isfinite(src).all():
        raise AlignmentError("landmarks contain NaN or inf")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs ** 2).sum() / len(src)
    if not np.isfinite(var_s):  # coordinates near float64's limit overflow the mean or squares
        raise AlignmentError("landmarks out of range: coordinates too large")
    if var_s < 1e-6:
        raise AlignmentError("degenerate landmarks: all points coincide")
    cov = xd.T @ xs / len(src)  # (2, 2)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # forbid reflections
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / var_s
    if not np.isfinite(scale) or scale <= 0:
        raise AlignmentError("degenerate landmarks: no valid similarity transform")
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]]).astype(np.float64)


def align_face(image: np.ndarray, landmarks: np.ndarray, template: str | Template = ARCFACE_112) -> np.ndarray:
    """Warp ``image`` (H, W, 3) uint8 so ``landmarks`` (5, 2) land on ``template``.

    Returns the aligned crop, (template height, template width, 3) uint8; pixels outside the
    source image are black.
    """
    tpl = get_template(template) if isinstance(template, str) else template
    matrix = estimate_similarity(np.asarray(landmarks, dtype=np.float64), tpl.points)
    return cv2.warpAffine(image, matrix, tpl.size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def center_crop_landmarks(width: int, height: int, template: str | Template = ARCFACE_112,
                          face_fraction: float = 0.5) -> np.ndarray:
    """Fallback landmarks for an image whose face was not detected.

    Places the template's landmarks, scaled so the template's width spans ``face_fraction``
    of the shorter image side, at the image centre — the documented fallback for
    pre-cropped, roughly centred faces (e.g. LFW's 250×250 images, where the face spans about
    half the image).
    """
    tpl = get_template(template) if isinstance(template, str) else template
    scale = face_fraction * min(width, height) / tpl.size[0]
    centred = tpl.points - np.array(tpl.size, dtype=np.float32) / 2
    return (centred * scale + np.array([width / 2, height / 2])).astype(np.float32)
