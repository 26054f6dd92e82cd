"""Face detection: the :class:`Detector` interface and its MTCNN implementation.

MTCNN comes from ``facenet-pytorch``, whose P/R/O-Net weights ship inside its wheel, so
nothing is downloaded. Under numpy 2 its ``detect()`` returns object arrays (and ``None``
when there is no face); :class:`MTCNNDetector` converts both to plain float32 arrays.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch

from .image import ImageInput, load_image
from .types import Detection

log = logging.getLogger(__name__)


class Detector(Protocol):
    """Anything that finds faces: ``detect(image) -> list[Detection]`` (sorted by score)."""

    def detect(self, image: ImageInput) -> list[Detection]: ...


@dataclass(frozen=True)
class MTCNNConfig:
    """MTCNN settings. ``min_face_size`` in pixels; ``thresholds`` for P/R/O-Net;
    ``factor`` is the image-pyramid scale step (smaller = faster, may miss sizes)."""

    min_face_size: int = 20
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    factor: float = 0.709
    min_score: float = 0.9  # final filter on O-Net probability

    def __post_init__(self) -> None:
        if self.min_face_size < 12:
            raise ValueError("min_face_size must be >= 12 (MTCNN's receptive field)")
        if not 0.0 < self.factor < 1.0:
            raise ValueError("factor must be in (0, 1)")
        if len(self.thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError("thresholds must be three values in [0, 1]")


class MTCNNDetector:
    """MTCNN (Zhang et al. 2016) face detector with 5 landmarks, on CPU or CUDA."""

    def __init__(self, config: MTCNNConfig | None = None, device: str | torch.device = "cpu") -> None:
        from facenet_pytorch import MTCNN  # heavy import, only when a detector is made

        self.config = config or MTCNNConfig()
        c = self.config
        self._mtcnn = MTCNN(min_face_size=c.min_face_size, thresholds=list(c.thresholds), factor=c.factor,
                            keep_all=True, post_process=False, device=torch.device(device))

    @torch.inference_mode()
    def detect(self, image: ImageInput) -> list[Detection]:
        """Detect all faces in ``image``; highest score first."""
        rgb = load_image(image)
        boxes, probs, points = self._mtcnn.detect(rgb, landmarks=True)
        return _to_detections(boxes, probs, points, self.config.min_score)

    def detect_many(self, images: Sequence[ImageInput]) -> list[list[Detection]]:
        """Detect faces in each image (one by one: batching is slower on CPU)."""
        return [self.detect(im) for im in images]


def _to_detections(boxes: object, probs: object, points: object, min_score: float) -> list[Detection]:
    """facenet-pytorch's (possibly object-dtype or None) outputs → sorted Detections."""
    if boxes is None or points is None:
        return []
    b = np.asarray(np.asarray(boxes).tolist(), dtype=np.float32).reshape(-1, 4)
    p = np.asarray(np.asarray(probs).tolist(), dtype=np.float32).reshape(-1)
    lm = np.asarray(np.asarray(points).tolist(), dtype=np.float32).reshape(-1, 5, 2)
    dets = [Detection(box=b[i], score=float(p[i]), landmarks=lm[i])
            for i in range(len(b)) if np.isfinite(p[i]) and p[i] >= min_score]
    return sorted(dets, key=lambda d: -d.score)


def pick_central(detections: Sequence[Detection], width: int, height: int) -> Detection | None:
    """The face nearest the image centre (the LFW convention for the labelled subject)."""
    if not detections:
        return None
    c = np.array([width / 2, height / 2])
    return min(detections, key=lambda d: float(np.sum((d.center - c) ** 2)))
