"""facerec: face detection, 5-point alignment, embeddings and identity search.

Names are imported on first use (PEP 562), so ``import facerec`` and the ONNX inference path
never import torch; ``facerec.Embedder`` or ``facerec.create_backbone`` do.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from facerec.errors import (AlignmentError, FacerecError, ImageError, ImageTooLarge, LowQualityError, ModelError,
                     MultipleFacesError, NoFaceError)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "ARCFACE_112": "alignment", "SPHEREFACE_112x96": "alignment", "align_face": "alignment",
    "estimate_similarity": "alignment", "create_backbone": "backbones", "list_backbones": "backbones",
    "MTCNNConfig": "detection.detector", "MTCNNDetector": "detection.detector", "Embedder": "runtime.embedder", "load_image": "io.image",
    "OnnxEmbedder": "runtime.onnx_embedder", "Preprocessing": "runtime.preprocessing", "FaceRecognizer": "recognizer",
    "cosine_similarity": "similarity", "Detection": "types", "Face": "types", "VerificationResult": "types",
    "create_detector": "detection.bounded", "Photo": "io.photo", "open_photo": "io.photo",
    "FaceQuality": "quality", "face_quality": "quality",
}

__all__ = sorted([*_LAZY, "AlignmentError", "FacerecError", "ImageError", "ImageTooLarge", "LowQualityError", "ModelError",
                  "MultipleFacesError", "NoFaceError"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'facerec' has no attribute {name!r}")
    if module in ("runtime.embedder", "backbones"):  # torch modules: without torch, one line naming the extra
        from facerec.extras import require_torch

        require_torch(f"facerec.{name}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from facerec.alignment import ARCFACE_112, SPHEREFACE_112x96, align_face, estimate_similarity
    from facerec.backbones import create_backbone, list_backbones
    from facerec.detection.bounded import create_detector
    from facerec.detection.detector import MTCNNConfig, MTCNNDetector
    from facerec.runtime.embedder import Embedder
    from facerec.io.image import load_image
    from facerec.runtime.onnx_embedder import OnnxEmbedder
    from facerec.io.photo import Photo, open_photo
    from facerec.runtime.preprocessing import Preprocessing
    from facerec.quality import FaceQuality, face_quality
    from facerec.recognizer import FaceRecognizer
    from facerec.similarity import cosine_similarity
    from facerec.types import Detection, Face, VerificationResult
