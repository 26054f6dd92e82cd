"""The workflow behind ``facerec verify A B`` (its command line: :mod:`pipelines.cli.verify`):
Are two photos the same person?"""
from __future__ import annotations

from facerec import FaceRecognizer, VerificationResult
from facerec.io.image import ImageInput


def verify_pair(recognizer: FaceRecognizer, a: ImageInput, b: ImageInput,
                threshold: float | None = None) -> VerificationResult:
    """Compare the largest face of each image; the result carries the two faces it compared."""
    return recognizer.verify(a, b, threshold=threshold)
