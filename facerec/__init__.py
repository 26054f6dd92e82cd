"""facerec: face detection, 5-point alignment, embeddings and identity search."""
from __future__ import annotations

from .alignment import ARCFACE_112, SPHEREFACE_112x96, align_face, estimate_similarity
from .backbones import create_backbone, list_backbones
from .detection import MTCNNConfig, MTCNNDetector
from .embedder import Embedder
from .errors import (AlignmentError, FacerecError, ImageError, ImageTooLarge, ModelError, MultipleFacesError,
                     NoFaceError)
from .image import load_image
from .preprocessing import Preprocessing
from .recognizer import FaceRecognizer
from .similarity import cosine_similarity
from .types import Detection, Face, VerificationResult

__version__ = "0.1.0"

__all__ = [
    "ARCFACE_112", "SPHEREFACE_112x96", "AlignmentError", "Detection", "Embedder", "Face", "FaceRecognizer",
    "FacerecError", "ImageError", "ImageTooLarge", "MTCNNConfig", "MTCNNDetector", "ModelError", "MultipleFacesError",
    "NoFaceError", "Preprocessing", "VerificationResult", "align_face", "cosine_similarity", "create_backbone",
    "estimate_similarity", "list_backbones", "load_image",
]
