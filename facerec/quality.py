"""Quality of one face: how much its embedding can be trusted. The one home for the rule.

Every caller (enrollment's gate, verify and search reporting each face's quality, the video
tracker ranking crops, clustering keeping poor faces out of cluster cores) asks
:func:`face_quality`. It measures what is cheap and already known about a detected face:

* **size**: the side, in the ORIGINAL photo's pixels, of the square the aligned crop is cut
  from (:func:`face_size_px`, from the landmarks: the similarity transform's scale). Below
  the crop's own 112 px the crop is upsampled and detail is invented, not seen;
* **blur**: the variance of the Laplacian of the aligned grey crop (:func:`sharpness`);
* **pose**: yaw in degrees from the 5 landmarks (:func:`yaw_degrees`) and the combined
  yaw/pitch :func:`frontalness`;
* **embedding norm**: the model's raw features' norm before L2 normalisation, relative to the
  model's typical norm (``norm_ref`` in :mod:`facerec.models`; :attr:`facerec.types.Face.norm`).
  Like MagFace's, SFace's falls on faces the network is unsure of: the strongest signal
  measured (``docs/quality.md``);
* **detector score**: 0 (a face that was not detected, e.g. a centre-crop fallback) gives
  quality 0; otherwise it is reported, not used (each detector has its own scale).

``quality`` combines them into one number, fitted on CelebA identities (never LFW, the test
set) to predict the cosine between a face's embedding and its identity's mean
embedding (the CR-FIQA target): low quality = the face lands far from its own identity. Each
cause has its own threshold (:data:`THRESHOLDS`) so a low score says why: too small,
blurred, turned away. ``benchmarks.quality`` measures all of it (error-versus-reject curves).

``score`` (the product of ``sharpness``, ``frontal`` and ``size``) is the tracker's crop
ranking, kept as it was: the tracker's thresholds are tuned on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from facerec.alignment import ARCFACE_112, estimate_similarity

# Nose height between the eye line and the mouth line on the frontal template (≈ 0.49): the
# pitch reference of :func:`frontalness`.
_TPL = ARCFACE_112.points
_NOSE_RATIO = float((_TPL[2, 1] - _TPL[:2, 1].mean()) / (_TPL[3:, 1].mean() - _TPL[:2, 1].mean()))
# Nose offset from the eyes' midline over half the eye distance = _YAW_K·tan(yaw) for the
# generic 3D face (facerec.pose) seen orthographically: measured 1.057–1.083 for yaw 0–75°.
_YAW_K = 1.08

#: Cause names, in the order they are reported.
TOO_SMALL, BLURRED, TURNED_AWAY, NOT_DETECTED = "too small", "blurred", "turned away", "no face detected"


@dataclass(frozen=True)
class QualityThresholds:
    """Per-cause limits, calibrated by ``python -m benchmarks.quality`` (``docs/quality.md``):
    the value at which the false non-match rate of a degraded photo doubles."""

    min_size_px: float    # face_size_px below: "too small"
    min_sharpness: float  # Laplacian variance of the aligned 112×112 grey crop below: "blurred"
    max_yaw: float        # |yaw| in degrees above: "turned away"


#: Calibrated on the fit half of the CelebA subset (149 identities, SFace, YuNet): ``python -m
#: benchmarks.quality`` (2026-12-07; docs/quality.md). Round numbers of the measured 29.4 px,
#: 13.4 and 34.2°.
THRESHOLDS = QualityThresholds(min_size_px=29.0, min_sharpness=13.0, max_yaw=34.0)


@dataclass(frozen=True)
class QualityModel:
    """``quality = clip(bias + Σ weight·feature, 0, 1)`` over ``features`` (a linear
    regression fitted on CelebA, predicting a face's cosine to its identity's mean embedding),
    and ``min_quality``, the calibrated threshold below which a face is ``low``."""

    features: tuple[str, ...]
    bias: float
    weights: tuple[float, ...]
    min_quality: float


#: Feature names of :func:`quality_features` (the last only when the norm is known).
FEATURES = ("log2_size", "log2_sharpness", "yaw_cos", "frontal", "log2_norm")
# Both fitted by ``python -m benchmarks.quality`` on the CelebA fit half (its natural photos and 200
# of them degraded at 14 levels) with SFace's embeddings; thresholds as its output says.
#: The cheap signals only: any model, or a model without a reference norm.
# Its threshold: the same share of the fit half flagged (12 %) as the norm model's, whose rule
# (faces below miss 3× as often as the average face) this weaker model never meets.
QUALITY_MODEL = QualityModel(FEATURES[:4], bias=-0.022176, weights=(0.030980, 0.048639, 0.112555, 0.068694),
                             min_quality=0.696)
#: With the raw features' norm relative to the model's ``norm_ref`` (registry): SFace's. Its
#: threshold: faces below miss their own identity (at FMR 1e-3) 3× as often as the average face.
QUALITY_MODEL_NORM = QualityModel(FEATURES, bias=0.484325, weights=(0.015173, 0.015704, 0.023214, 0.002785, 0.520922),
                                  min_quality=0.637)


@dataclass(frozen=True)
class FaceQuality:
    """How useful one face is for identification.

    ``sharpness``, ``frontal``, ``size`` and ``score`` are in [0, 1] (the tracker's ranking:
    ``score`` is their product). ``quality`` in [0, 1] is the calibrated predictor of errors
    (``low`` below ``min_quality``); ``reasons`` names the causes
    (``"too small"``, ``"blurred"``, ``"turned away"``, ``"no face detected"``) that put it
    below a per-cause threshold.
    """

    sharpness: float  # variance of the Laplacian, squashed: v / (v + sharpness_ref)
    frontal: float    # 1 for a frontal face, towards 0 as yaw or pitch grow
    size: float       # face height / size_ref, capped at 1
    score: float      # the product: one blurred, turned or tiny face is enough to rank low
    size_px: float = 0.0      # face_size_px: original-photo pixels under the aligned crop's side
    laplacian: float = 0.0    # raw variance of the Laplacian of the aligned crop
    yaw: float = 0.0          # degrees, unsigned
    det_score: float = 1.0    # the detector's confidence (0: not detected)
    norm: float | None = None  # raw feature norm / the model's norm_ref (None: not known)
    quality: float = 0.0      # calibrated, in [0, 1]
    min_quality: float = 0.0  # the threshold of the quality model used (with or without the norm)
    reasons: tuple[str, ...] = field(default=())

    @property
    def low(self) -> bool:
        """Below the calibrated threshold: a face likely to be matched wrongly."""
        return self.quality < self.min_quality

    def to_dict(self) -> dict[str, Any]:
        """JSON view: the calibrated quality, its threshold, whether it is low and why, and the measurements."""
        return {"quality": round(self.quality, 4), "min_quality": round(self.min_quality, 4), "low": self.low,
                "reasons": list(self.reasons), "size_px": round(self.size_px, 1),
                "sharpness": round(self.laplacian, 1), "yaw": round(self.yaw, 1),
                "detector_score": round(self.det_score, 4),
                "norm": None if self.norm is None else round(self.norm, 4)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FaceQuality":
        """Inverse of :meth:`to_dict` (e.g. a service answer); the tracker's ``sharpness``,
        ``frontal``, ``size`` and ``score`` are not sent and come back NaN."""
        nan = float("nan")
        return cls(sharpness=nan, frontal=nan, size=nan, score=nan, size_px=float(d["size_px"]),
                   laplacian=float(d["sharpness"]), yaw=float(d["yaw"]), det_score=float(d["detector_score"]),
                   norm=None if d.get("norm") is None else float(d["norm"]), quality=float(d["quality"]),
                   min_quality=float(d["min_quality"]), reasons=tuple(d["reasons"]))

    def describe(self) -> str:
        """One human line, e.g. ``quality 0.31 (low: too small, blurred)``."""
        why = ", ".join(self.reasons)
        tag = (f" (low: {why})" if why else " (low)") if self.low else (f" ({why})" if why else "")
        return f"quality {self.quality:.2f}{tag}"


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop (higher = sharper; scale-dependent, so
    compare crops of the same size, e.g. aligned crops)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_size_px(landmarks: np.ndarray) -> float:
    """The side, in the landmarks' (original photo) pixels, of the square an aligned 112×112
    crop is cut from: 112 / the alignment's scale. 112 or more = the crop sees real detail."""
    m = estimate_similarity(_TPL, np.asarray(landmarks, dtype=np.float64).reshape(5, 2))  # template → photo
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))) * ARCFACE_112.size[1])


def _eye_frame(lm: np.ndarray) -> tuple[float, float, float, float] | None:
    """In the frame of the eye line (which removes roll): the nose's offset along the eye line,
    the nose's and the mouth centre's depth below it, and the eye distance; None for
    coincident eyes."""
    left, right, nose = lm[0], lm[1], lm[2]
    eyes = right - left
    dist = float(np.hypot(*eyes))
    if not np.isfinite(dist) or dist < 1e-6:
        return None
    ux = eyes / dist
    uy = np.array([-ux[1], ux[0]])  # perpendicular, pointing down the face
    mid = (left + right) / 2
    mouth = (lm[3] + lm[4]) / 2
    return float((nose - mid) @ ux), float((nose - mid) @ uy), float((mouth - mid) @ uy), dist


def yaw_degrees(landmarks: np.ndarray) -> float:
    """Unsigned yaw in degrees from the 5 landmarks: the nose's offset from the eyes' midline
    over half the eye distance is ≈ 1.08·tan(yaw) on the generic 3D face (90 for coincident eyes)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    f = _eye_frame(lm)
    if f is None:
        return 90.0
    nose_x, _, _, dist = f
    return float(np.degrees(np.arctan(abs(nose_x) / (dist / 2) / _YAW_K)))


def frontalness(landmarks: np.ndarray) -> float:
    """1 for a frontal face, lower for yaw and pitch, from the 5 landmarks (5, 2).

    In the frame of the eye line (which removes roll, which alignment corrects anyway): yaw
    moves the nose off the eyes' midline (offset / half the eye distance), pitch moves it up or
    down between the eye and mouth lines (relative to the template's ratio ≈ 0.49).
    """
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    f = _eye_frame(lm)
    if f is None:
        return 0.0
    nose_x, nose_y, mouth_y, dist = f
    yaw = min(1.0, abs(nose_x) / (dist / 2))
    pitch = min(1.0, abs(nose_y / mouth_y - _NOSE_RATIO) / _NOSE_RATIO) if mouth_y > 1e-6 else 1.0
    return (1.0 - yaw) * (1.0 - pitch)


def quality_features(size_px: float, laplacian: float, yaw: float, frontal: float,
                     norm: float | None = None) -> np.ndarray:
    """The inputs of the quality models, (4,) or with ``norm`` (5,) (:data:`FEATURES`): size and
    sharpness as capped log2 (more pixels stop helping past about twice the crop's 112 px), the
    relative norm as log2. The detector's score is not one: its scale is each detector's own;
    an undetected face gets quality 0 instead."""
    x = [np.log2(np.clip(size_px, 8.0, 224.0)), np.log2(np.clip(laplacian, 1.0, 4096.0)),
         np.cos(np.radians(min(yaw, 90.0))), frontal]
    if norm is not None:
        x.append(np.log2(np.clip(norm, 1e-3, 1e3)))
    return np.array(x, dtype=np.float64)


def combine(features: np.ndarray, model: QualityModel = QUALITY_MODEL) -> np.ndarray:
    """``quality`` of feature rows (..., F) → (...,) in [0, 1]."""
    x = np.asarray(features, dtype=np.float64)
    return np.clip(model.bias + x @ np.asarray(model.weights), 0.0, 1.0)


def low_quality_reasons(size_px: float, laplacian: float, yaw: float, det_score: float,
                        thresholds: QualityThresholds = THRESHOLDS) -> tuple[str, ...]:
    """The causes under their calibrated thresholds, in :data:`TOO_SMALL`… order."""
    out = []
    if size_px < thresholds.min_size_px:
        out.append(TOO_SMALL)
    if laplacian < thresholds.min_sharpness:
        out.append(BLURRED)
    if yaw > thresholds.max_yaw:
        out.append(TURNED_AWAY)
    if det_score <= 0.0:
        out.append(NOT_DETECTED)
    return tuple(out)


def face_quality(crop: np.ndarray, landmarks: np.ndarray, box: np.ndarray | None = None,
                 sharpness_ref: float = 100.0, size_ref: float = 112.0, *,
                 det_score: float = 1.0, norm: float | None = None) -> FaceQuality:
    """Quality of one aligned ``crop`` (H, W, 3) whose face had ``landmarks`` (5, 2) and
    ``box`` (4,) in the photo (full-resolution pixels) and detector confidence ``det_score``;
    ``norm``: its raw features' norm relative to the model's ``norm_ref`` (:attr:`Face.norm`),
    which selects :data:`QUALITY_MODEL_NORM` (else :data:`QUALITY_MODEL`).

    ``box`` only feeds the tracker's ``size`` (face height / ``size_ref``); without it the
    landmark size stands in. ``sharpness_ref`` and ``size_ref`` shape the tracker's ``score``.
    """
    lap = sharpness(crop)
    s = lap / (lap + sharpness_ref)
    f = frontalness(landmarks)
    size_px = face_size_px(landmarks)
    height = float(box[3] - box[1]) if box is not None else size_px
    z = float(np.clip(height / size_ref, 0.0, 1.0))
    yaw = yaw_degrees(landmarks)
    model = QUALITY_MODEL if norm is None else QUALITY_MODEL_NORM
    q = float(combine(quality_features(size_px, lap, yaw, f, norm), model)) if det_score > 0 else 0.0
    return FaceQuality(sharpness=s, frontal=f, size=z, score=s * f * z, size_px=size_px, laplacian=lap, yaw=yaw,
                       det_score=float(det_score), norm=norm, quality=q, min_quality=model.min_quality,
                       reasons=low_quality_reasons(size_px, lap, yaw, det_score))
