"""The public entry point: :class:`FaceRecognizer` = detector + aligner + embedder."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .alignment import align_face, center_crop_landmarks
from .detection import Detector, MTCNNConfig, MTCNNDetector, pick_central
from .embedder import Embedder
from .errors import ModelError, MultipleFacesError, NoFaceError
from .image import ImageInput, load_image
from .similarity import cosine_similarity
from .types import Detection, Face, VerificationResult

log = logging.getLogger(__name__)

#: Where the shipped default model lives (inside the package; no download).
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "default.pt"

Select = Literal["largest", "central", "only"]


def default_weights() -> Path:
    """Path of the shipped default model; :class:`ModelError` if this install has none."""
    env = os.environ.get("FACEREC_WEIGHTS")
    path = Path(env) if env else DEFAULT_WEIGHTS
    if not path.is_file():
        raise ModelError(f"no default model at {path}: pass weights explicitly (e.g. --weights model.pt)")
    return path


class FaceRecognizer:
    """Image in, faces and embeddings out.

    >>> rec = FaceRecognizer.load("model.pt")            # doctest: +SKIP
    >>> rec.verify("a.jpg", "b.jpg").same                # doctest: +SKIP
    """

    def __init__(self, embedder: Embedder, detector: Detector | None = None, threshold: float | None = None,
                 frontalize: bool = False) -> None:
        self.embedder = embedder
        self.frontalize = frontalize  # embed the frontal view of each face (facerec.pose)
        self.detector = detector if detector is not None else MTCNNDetector()
        meta_thr = embedder.metadata.get("threshold")
        self._threshold = float(threshold) if threshold is not None else (
            float(meta_thr) if meta_thr is not None else None)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, threshold: float | None = None,
             detector_config: MTCNNConfig | None = None, device: str = "cpu", frontalize: bool = False,
             **embedder_opts: Any) -> "FaceRecognizer":
        """Load a model checkpoint (default: the shipped model) with an MTCNN detector;
        ``frontalize``: embed each face's frontal view (:mod:`facerec.pose`)."""
        path = Path(weights) if weights is not None else default_weights()
        embedder = Embedder.load(path, device=device, **embedder_opts)
        return cls(embedder, MTCNNDetector(detector_config, device=device), threshold, frontalize)

    @property
    def threshold(self) -> float:
        """Cosine threshold above which two faces are called the same person."""
        if self._threshold is None:
            raise ModelError("this model has no calibrated verification threshold; pass threshold=...")
        return self._threshold

    @property
    def search_threshold(self) -> float | None:
        """Open-set search threshold: the score a small stated share of impostor comparisons
        exceed (checkpoint metadata ``search_threshold``, calibrated on held-out identities);
        models without one fall back to the verification threshold; None when uncalibrated."""
        value = self.embedder.metadata.get("search_threshold")
        if value is not None:
            return float(value)
        return self._threshold

    @property
    def model_id(self) -> str:
        """Fingerprint of the embedding model (recorded by galleries)."""
        return self.embedder.fingerprint()

    # -- faces ----------------------------------------------------------------------------
    def crop(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The crop the embedder takes for the face with image ``landmarks`` (5, 2): aligned to
        the model's template, and frontalised when ``frontalize`` is set."""
        tpl = self.embedder.preprocessing.template
        if self.frontalize:
            from .pose import frontalize_face  # imported on use: the plain path does not need it

            return frontalize_face(rgb, landmarks, tpl)
        return align_face(rgb, landmarks, tpl)

    def detect(self, image: ImageInput) -> list[Detection]:
        """All faces in ``image``, highest score first."""
        return self.detector.detect(load_image(image))

    def faces(self, image: ImageInput, embed: bool = True, flip: bool = False) -> list[Face]:
        """All faces with their aligned crops (and embeddings unless ``embed=False``)."""
        rgb = load_image(image)
        dets = self.detector.detect(rgb)
        crops = [self.crop(rgb, d.landmarks) for d in dets]
        embs = self.embedder.embed(crops, flip=flip) if embed and crops else [None] * len(crops)
        return [Face(d, c, e) for d, c, e in zip(dets, crops, embs)]

    def embed(self, image: ImageInput, flip: bool = False) -> np.ndarray:
        """(N, D) embeddings of every face in ``image`` (N may be 0), highest score first."""
        faces = self.faces(image, flip=flip)
        if not faces:
            return np.zeros((0, self.embedder.embedding_size), dtype=np.float32)
        return np.stack([f.embedding for f in faces])

    def face(self, image: ImageInput, select: Select = "largest", fallback_center: bool = False,
             flip: bool = False) -> Face:
        """Exactly one face of ``image``.

        ``select``: with several faces, take the ``"largest"`` box, the one nearest the image
        ``"central"`` (the LFW convention), or raise :class:`MultipleFacesError` (``"only"``).
        No face raises :class:`NoFaceError`, unless ``fallback_center`` aligns a fixed centre
        crop instead (for pre-cropped images; the returned detection then has score 0).
        """
        rgb = load_image(image)
        dets = self.detector.detect(rgb)
        h, w = rgb.shape[:2]
        if not dets:
            if not fallback_center:
                raise NoFaceError("no face found in the image")
            lm = center_crop_landmarks(w, h, self.embedder.preprocessing.template)
            det = Detection(box=np.array([0, 0, w, h], np.float32), score=0.0, landmarks=lm)
        elif len(dets) == 1:
            det = dets[0]
        elif select == "only":
            raise MultipleFacesError(f"{len(dets)} faces found; expected exactly one")
        elif select == "central":
            det = pick_central(dets, w, h)
        else:
            det = max(dets, key=lambda d: float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))
        crop = self.crop(rgb, det.landmarks)
        return Face(det, crop, self.embedder.embed(crop[None], flip=flip)[0])

    def verify(self, a: ImageInput, b: ImageInput, threshold: float | None = None,
               select: Select = "largest") -> VerificationResult:
        """Are the (largest) faces of ``a`` and ``b`` the same person?

        Score: cosine similarity of the embeddings; ``same`` when score ≥ threshold
        (default: the model's calibrated threshold).
        """
        thr = self.threshold if threshold is None else float(threshold)
        fa, fb = self.face(a, select), self.face(b, select)
        score = float(cosine_similarity(fa.embedding, fb.embedding))
        return VerificationResult(same=score >= thr, score=score, threshold=thr)
