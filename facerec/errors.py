"""Exception types raised by facerec's public API.

Every user-facing failure is a subclass of :class:`FacerecError`, so callers (and the CLI,
which turns them into one line on stderr) can catch one type.
"""
from __future__ import annotations


class FacerecError(Exception):
    """Base class of all facerec errors that are the caller's input, not a bug."""


class ImageError(FacerecError):
    """An image could not be read or has an unsupported shape, dtype or size."""


class ImageTooLarge(ImageError):
    """An image has more pixels than the limit it was loaded under (a decompression-bomb guard)."""


class NoFaceError(FacerecError):
    """No face was detected where exactly one was required."""


class MultipleFacesError(FacerecError):
    """Several faces were detected where exactly one was required."""


class AlignmentError(FacerecError):
    """Landmarks are degenerate (e.g. all points coincide) and no transform exists."""


class LowQualityError(FacerecError):
    """A face is below the quality a task asked for (e.g. enrollment with a quality gate)."""


class ModelError(FacerecError):
    """A model checkpoint is missing, corrupt, untrusted or incompatible."""


class NewerFormat(FacerecError):
    """A file written by a newer facerec, in a format version this one does not know."""
