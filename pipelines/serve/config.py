"""The service's settings: one frozen dataclass, filled by ``facerec serve`` or by tests."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from facerec.image import MAX_PIXELS

#: Default limit on one request's body (all uploaded files plus multipart overhead).
DEFAULT_MAX_UPLOAD_MB = 10.0


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Inference threads: one per core the process may use, at most 4."""
    return max(1, min(4, cpu_cores()))


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs.

    gallery_dir: folder whose sub-folders are the named galleries (created if missing).
    api_key_hashes: sha256 hex digests of the accepted API keys (see :mod:`.auth`).
    auth: False turns the key check off (``--no-auth``, local demos only).
    max_upload_bytes: largest accepted request body; bigger ones get 413 payload_too_large.
    max_pixels: largest accepted image (width × height); at most :data:`facerec.image.MAX_PIXELS`.
    workers: size of the inference thread pool.
    torch_threads: intra-op threads per inference (None: leave torch's setting alone).
    """

    gallery_dir: Path
    api_key_hashes: frozenset[str] = field(default_factory=frozenset)
    auth: bool = True
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    max_pixels: int = MAX_PIXELS
    workers: int = field(default_factory=default_workers)
    torch_threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "gallery_dir", Path(self.gallery_dir))
        if self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be positive, got {self.max_upload_bytes}")
        if not 1 <= self.max_pixels <= MAX_PIXELS:
            raise ValueError(f"max_pixels must lie in [1, {MAX_PIXELS}] (facerec.image.MAX_PIXELS), got {self.max_pixels}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1, got {self.torch_threads}")
