"""Face detection: the :class:`Detector` interface, the face-selection rules, and MTCNN on torch.

Two runners of the same MTCNN: :class:`MTCNNDetector` (here) runs ``facenet-pytorch``, whose
P/R/O-Net weights ship inside its wheel, so nothing is downloaded; under numpy 2 its
``detect()`` returns object arrays (and ``None`` when there is no face), converted here to
plain float32 arrays. :class:`facerec.detection.mtcnn_onnx.OnnxMTCNNDetector` runs the same networks
exported to ONNX without torch; parity tests hold the two to the same detections.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

import threading

import numpy as np

from facerec.errors import ModelError, MultipleFacesError
from facerec.extras import require_torch
from facerec.io.image import ImageInput, load_image
from facerec.types import Detection

log = logging.getLogger(__name__)

#: What to install when facenet-pytorch is missing (it pins an old torch, hence --no-deps).
FACENET_INSTALL = "pip install --no-deps facenet-pytorch==2.6.0"


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
    """MTCNN (Zhang et al. 2016) face detector with 5 landmarks, on torch (CPU or CUDA).

    The networks are built on the first :meth:`detect` (importing torch and facenet-pytorch
    costs seconds); without facenet-pytorch that call raises :class:`ModelError` naming the
    package to install.
    """

    def __init__(self, config: MTCNNConfig | None = None, device: str = "cpu") -> None:
        self.config = config or MTCNNConfig()
        self.device = str(device)
        self._mtcnn = None
        self._lock = threading.Lock()  # the service detects from several threads

    def _model(self):  # facenet_pytorch.MTCNN
        with self._lock:
            if self._mtcnn is None:
                require_torch("the torch MTCNN detector")  # first: without torch, facenet-pytorch is not the fix
                try:
                    from facenet_pytorch import MTCNN  # heavy import, only when first needed
                except ImportError:
                    raise ModelError(f"the torch MTCNN detector needs facenet-pytorch: {FACENET_INSTALL}") from None
                import torch

                c = self.config
                self._mtcnn = MTCNN(min_face_size=c.min_face_size, thresholds=list(c.thresholds), factor=c.factor,
                                    keep_all=True, post_process=False, device=torch.device(self.device))
            return self._mtcnn

    def detect(self, image: ImageInput) -> list[Detection]:
        """Detect all faces in ``image``; highest score first."""
        rgb = load_image(image)
        model = self._model()  # first: a missing torch or facenet-pytorch is one line (ModelError)
        import torch

        with torch.inference_mode():
            boxes, probs, points = model.detect(rgb, landmarks=True)
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


def pick_largest(detections: Sequence[Detection]) -> Detection | None:
    """The face with the largest box (the first of equal ones, i.e. the higher score)."""
    if not detections:
        return None
    return max(detections, key=lambda d: d.area)


def pick_central(detections: Sequence[Detection], width: int, height: int) -> Detection | None:
    """The face nearest the image centre (the LFW convention for the labelled subject)."""
    if not detections:
        return None
    c = np.array([width / 2, height / 2])
    return min(detections, key=lambda d: float(np.sum((d.center - c) ** 2)))


#: How one face is chosen among several: the largest box, the one nearest the image centre
#: (the LFW convention), or exactly one (several raise :class:`MultipleFacesError`).
FaceSelect = Literal["largest", "central", "only"]


def choose_face(detections: Sequence[Detection], select: FaceSelect = "largest", width: int = 0,
                height: int = 0) -> Detection | None:
    """THE rule for picking one face of an image: None when there is none, the only one when
    there is one, else by ``select`` (``"central"`` needs the image ``width`` and ``height``)."""
    if not detections:
        return None
    if len(detections) == 1:
        return detections[0]
    if select == "only":
        raise MultipleFacesError(f"{len(detections)} faces found; expected exactly one")
    if select == "central":
        return pick_central(detections, width, height)
    if select == "largest":
        return pick_largest(detections)
    raise ValueError(f"select must be one of largest, central, only; got {select!r}")
