"""The service's settings: one frozen dataclass, filled by ``facerec serve`` or by tests."""
from __future__ import annotations

import ipaddress
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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs; every setting is validated here, once (the CLI only parses flags).

    gallery_dir: folder whose sub-folders are the named galleries (created if missing).
    api_key_hashes: sha256 hex digests of the accepted API keys (see :mod:`.auth`).
    auth: False turns the key check off (``--no-auth``, local demos only).
    max_upload_bytes: largest accepted request body; bigger ones get 413 payload_too_large.
    max_pixels: largest accepted image (width × height); at most :data:`facerec.image.MAX_PIXELS`.
    workers: size of the inference thread pool.
    torch_threads: intra-op threads per inference (None: leave torch's setting alone).
    host: the address served on (only for the warning about open writes beyond this machine).
    """

    gallery_dir: Path
    api_key_hashes: frozenset[str] = field(default_factory=frozenset)
    auth: bool = True
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    max_pixels: int = MAX_PIXELS
    workers: int = field(default_factory=default_workers)
    torch_threads: int | None = None
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        # Messages name the setting and its `facerec serve` flag: the CLI passes them through.
        if not self.gallery_dir:
            raise ValueError("gallery_dir (--gallery DIR) is required")
        object.__setattr__(self, "gallery_dir", Path(self.gallery_dir))
        if self.api_key_hashes and not self.auth:
            raise ValueError("give API keys (--api-keys FILE) or auth=False (--no-auth), not both")
        if self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes (--max-upload-mb) must be positive, got {self.max_upload_bytes}")
        if not 1 <= self.max_pixels <= MAX_PIXELS:
            raise ValueError(f"max_pixels (--max-pixels) must lie in [1, {MAX_PIXELS}] (facerec.image.MAX_PIXELS), "
                             f"got {self.max_pixels}")
        if self.workers < 1:
            raise ValueError(f"workers (--workers) must be at least 1, got {self.workers}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1, got {self.torch_threads}")

    def auth_warning(self) -> str | None:
        """The one warning about writes this configuration allows or refuses (None: keys set)."""
        if not self.auth:
            where = "this machine" if is_loopback(self.host) else f"the network ({self.host})"
            return f"API keys are OFF (--no-auth): anyone on {where} can change the galleries"
        if not self.api_key_hashes:
            return "no API keys (--api-keys FILE): serving read-only, writes (enroll, remove) are refused"
        return None
