"""Quality of one face crop: how much an embedding of it can be trusted.

One home for the rule: the video tracker ranks crops with it, and the commands that enroll,
verify, search and cluster report or gate on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .alignment import ARCFACE_112

# Nose height between the eye line and the mouth line on the frontal template (≈ 0.49): the
# pitch reference of :func:`frontalness`.
_TPL = ARCFACE_112.points
_NOSE_RATIO = float((_TPL[2, 1] - _TPL[:2, 1].mean()) / (_TPL[3:, 1].mean() - _TPL[:2, 1].mean()))


@dataclass(frozen=True)
class FaceQuality:
    """How useful one crop is for identification; each part and ``score`` in [0, 1]."""

    sharpness: float  # variance of the Laplacian, squashed: v / (v + sharpness_ref)
    frontal: float    # 1 for a frontal face, towards 0 as yaw or pitch grow
    size: float       # face height / size_ref, capped at 1
    score: float      # the product: one blurred, turned or tiny face is enough to rank low


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop (higher = sharper; scale-dependent, so
    compare crops of the same size, e.g. aligned crops)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def frontalness(landmarks: np.ndarray) -> float:
    """1 for a frontal face, lower for yaw and pitch, from the 5 landmarks (5, 2).

    In the frame of the eye line (which removes roll, which alignment corrects anyway): yaw
    moves the nose off the eyes' midline (offset / half the eye distance), pitch moves it up or
    down between the eye and mouth lines (relative to the template's ratio ≈ 0.49).
    """
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    left, right, nose = lm[0], lm[1], lm[2]
    eyes = right - left
    dist = float(np.hypot(*eyes))
    if not np.isfinite(dist) or dist < 1e-6:
        return 0.0
    ux = eyes / dist
    uy = np.array([-ux[1], ux[0]])  # perpendicular, pointing down the face
    mid = (left + right) / 2
    nose_x, nose_y = float((nose - mid) @ ux), float((nose - mid) @ uy)
    mouth_y = float(((lm[3] + lm[4]) / 2 - mid) @ uy)
    yaw = min(1.0, abs(nose_x) / (dist / 2))
    pitch = min(1.0, abs(nose_y / mouth_y - _NOSE_RATIO) / _NOSE_RATIO) if mouth_y > 1e-6 else 1.0
    return (1.0 - yaw) * (1.0 - pitch)


def face_quality(crop: np.ndarray, landmarks: np.ndarray, box: np.ndarray, sharpness_ref: float = 100.0,
                 size_ref: float = 112.0) -> FaceQuality:
    """Quality of one aligned ``crop`` (H, W, 3) whose face had ``landmarks`` (5, 2) and
    ``box`` (4,) in the frame (full-resolution pixels)."""
    sharp = sharpness(crop)
    s = sharp / (sharp + sharpness_ref)
    f = frontalness(landmarks)
    height = float(box[3] - box[1])
    z = float(np.clip(height / size_ref, 0.0, 1.0))
    return FaceQuality(sharpness=s, frontal=f, size=z, score=s * f * z)
