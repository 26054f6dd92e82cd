"""Plain data types shared across the library."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from facerec.quality import FaceQuality

# Order of the 5 landmarks everywhere in facerec (and in MTCNN / insightface):
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Detection:
    """One detected face, in original-image pixel coordinates.

    box: (4,) float32 ``x1, y1, x2, y2``; score: detector confidence in [0, 1];
    landmarks: (5, 2) float32 ``(x, y)`` in :data:`LANDMARK_NAMES` order
    ("left"/"right" as seen in the image).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (lists of floats)."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 5),
            "landmarks": {n: [round(float(x), 2), round(float(y), 2)]
                          for n, (x, y) in zip(LANDMARK_NAMES, self.landmarks)},
        }

    @property
    def center(self) -> np.ndarray:
        """(2,) box centre."""
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])

    @property
    def area(self) -> float:
        """Box area in square pixels (0 for a degenerate box)."""
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


@dataclass(frozen=True)
class Face:
    """A detected face with its aligned crop and (optionally) its embedding."""

    detection: Detection
    crop: np.ndarray  # (H, W, 3) uint8 RGB aligned crop
    embedding: np.ndarray | None = field(default=None)  # (D,) float32, L2-normalised
    # The raw features' norm before normalisation over the model's typical norm (the registry's
    # ``norm_ref``): below 1 = less confident than usual; None when unknown.
    norm: float | None = field(default=None, compare=False)

    @cached_property
    def quality(self) -> "FaceQuality":
        """How far this face can be trusted (:func:`facerec.quality.face_quality`: size in the
        photo, blur, pose, detector score; ``.quality`` in [0, 1], ``.low``, ``.reasons``)."""
        from facerec.quality import face_quality  # cv2 work on use only

        d = self.detection
        return face_quality(self.crop, d.landmarks, d.box, det_score=float(d.score), norm=self.norm)


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of comparing two faces: cosine score and decision at ``threshold``.

    ``faces``: the two faces that were compared (detection, aligned crop, embedding), when the
    result comes from images (:meth:`facerec.FaceRecognizer.verify`); not part of :meth:`to_dict`.
    """

    same: bool
    score: float
    threshold: float
    faces: tuple[Face, Face] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """``same``, ``score``, ``threshold``, and with the compared faces their ``quality``
        (``{"a": {...}, "b": {...}}``, :meth:`facerec.quality.FaceQuality.to_dict`)."""
        out: dict[str, Any] = {"same": bool(self.same), "score": float(self.score), "threshold": float(self.threshold)}
        if self.faces is not None:
            out["quality"] = {"a": self.faces[0].quality.to_dict(), "b": self.faces[1].quality.to_dict()}
        return out
