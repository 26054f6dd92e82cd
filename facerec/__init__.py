"""facerec: face detection, 5-point alignment, embeddings and identity search.

Names are imported on first use (PEP 562), so ``import facerec`` and the ONNX inference path
never import torch; ``facerec.Embedder`` or ``facerec.create_backbone`` do.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (AlignmentError, FacerecError, ImageError, ImageTooLarge, LowQualityError, ModelError,
                     MultipleFacesError, NoFaceError)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "ARCFACE_112": "alignment", "SPHEREFACE_112x96": "alignment", "align_face": "alignment",
    "estimate_similarity": "alignment", "create_backbone": "backbones", "list_backbones": "backbones",
    "MTCNNConfig": "detection", "MTCNNDetector": "detection", "Embedder": "embedder", "load_image": "image",
    "OnnxEmbedder": "onnx_embedder", "Preprocessing": "preprocessing", "FaceRecognizer": "recognizer",
    "cosine_similarity": "similarity", "Detection": "types", "Face": "types", "VerificationResult": "types",
    "create_detector": "bounded", "Photo": "photo", "open_photo": "photo",
    "FaceQuality": "quality", "face_quality": "quality",
}

__all__ = sorted([*_LAZY, "AlignmentError", "FacerecError", "ImageError", "ImageTooLarge", "LowQualityError", "ModelError",
                  "MultipleFacesError", "NoFaceError"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'facerec' has no attribute {name!r}")
    if module in ("embedder", "backbones"):  # torch modules: without torch, one line naming the extra
        from .extras import require_torch

        require_torch(f"facerec.{name}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from .alignment import ARCFACE_112, SPHEREFACE_112x96, align_face, estimate_similarity
    from .backbones import create_backbone, list_backbones
    from .bounded import create_detector
    from .detection import MTCNNConfig, MTCNNDetector
    from .embedder import Embedder
    from .image import load_image
    from .onnx_embedder import OnnxEmbedder
    from .photo import Photo, open_photo
    from .preprocessing import Preprocessing
    from .quality import FaceQuality, face_quality
    from .recognizer import FaceRecognizer
    from .similarity import cosine_similarity
    from .types import Detection, Face, VerificationResult
