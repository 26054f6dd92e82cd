"""The service's settings: one frozen dataclass, filled by ``facerec serve`` or by tests."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from facerec.io.image import MAX_PIXELS

from .quota import Rate

#: Default limit on one request's body (all uploaded files plus multipart overhead).
DEFAULT_MAX_UPLOAD_MB = 10.0
#: Default requests per client: far above what a person at the page or a script of a few
#: threads sends (each upload takes tens of milliseconds of model time), low enough that a
#: flood of cheap requests (listings) is cut off.
DEFAULT_RATE = Rate(100, 1.0)
#: Default pixels in flight per client: four images of the largest size, or ~20 photos of
#: 12 MP. Real photos under the 10 MB body limit stay far below it; only crafted,
#: highly compressible images reach it.
DEFAULT_MAX_PIXELS_IN_FLIGHT = 4 * MAX_PIXELS
#: Default pixels in flight for the whole service: two clients at their limit.
DEFAULT_MAX_PIXELS_IN_FLIGHT_TOTAL = 2 * DEFAULT_MAX_PIXELS_IN_FLIGHT


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Inference threads for requests over 4 MP: one per core the process may use but one, at
    most 4, at least 1. The remaining core serves the small requests' own lane
    (:mod:`.workers`): measured on 2 cores under a burst of 48 MP uploads, a small verify took
    2.0x its idle latency with two big workers and 1.65x with one (``benchmarks/serve_burst.py``)."""
    return max(1, min(4, cpu_cores()) - 1)


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
    max_pixels: largest accepted image (width × height); at most :data:`facerec.io.image.MAX_PIXELS`.
    workers: size of the inference thread pool.
    torch_threads: intra-op threads per inference (None: leave torch's setting alone).
    host: the address served on; with :attr:`open_reads` and :attr:`auth` it decides which
        routes need a key (:func:`.auth.key_required`, the one access rule).
    open_reads: on a host beyond this machine, let reads (detect, verify, search, listings)
        through without a key (``--open-reads``); on loopback they are open anyway.
    rate: requests per client (token bucket), None for no limit (``--rate``).
    max_pixels_in_flight: summed width × height of one client's uploads being processed.
    max_pixels_in_flight_total: the same for all clients together.
    """

    gallery_dir: Path
    api_key_hashes: frozenset[str] = field(default_factory=frozenset)
    auth: bool = True
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    max_pixels: int = MAX_PIXELS
    workers: int = field(default_factory=default_workers)
    torch_threads: int | None = None
    host: str = "127.0.0.1"
    open_reads: bool = False
    rate: Rate | None = DEFAULT_RATE
    max_pixels_in_flight: int = DEFAULT_MAX_PIXELS_IN_FLIGHT
    max_pixels_in_flight_total: int = DEFAULT_MAX_PIXELS_IN_FLIGHT_TOTAL

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
            raise ValueError(f"max_pixels (--max-pixels) must lie in [1, {MAX_PIXELS}] (facerec.io.image.MAX_PIXELS), "
                             f"got {self.max_pixels}")
        if self.workers < 1:
            raise ValueError(f"workers (--workers) must be at least 1, got {self.workers}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1, got {self.torch_threads}")
        # Below one image of the largest accepted size, some valid uploads could never be served.
        if self.max_pixels_in_flight < self.max_pixels:
            raise ValueError(f"max_pixels_in_flight (--max-pixels-in-flight) must be at least max_pixels "
                             f"(--max-pixels, {self.max_pixels:,}), got {self.max_pixels_in_flight:,}")
        # A per-client limit above the total is allowed (the total binds): setting only the
        # total, for a small machine, must not require setting both.
        if self.max_pixels_in_flight_total < self.max_pixels:
            raise ValueError(f"max_pixels_in_flight_total (--max-pixels-in-flight-total) must be at least "
                             f"max_pixels (--max-pixels, {self.max_pixels:,}), got {self.max_pixels_in_flight_total:,}")
        if self.auth and not self.api_key_hashes and not self.open_reads and not is_loopback(self.host):
            # Beyond this machine every route needs a key: with none, nothing could be served.
            raise ValueError(f"--host {self.host} is reachable from the network, where every route needs an API "
                             "key: give --api-keys FILE, or --open-reads to serve reads without a key on purpose "
                             "(--no-auth opens writes too)")

    def auth_warning(self) -> str | None:
        """The one warning about what this configuration opens or refuses (None: keys on every route
        that needs one, and nothing opened beyond this machine)."""
        if not self.auth:
            where = "this machine" if is_loopback(self.host) else f"the network ({self.host})"
            return f"API keys are OFF (--no-auth): anyone on {where} can change the galleries"
        if not self.api_key_hashes:
            if self.open_reads and not is_loopback(self.host):
                return (f"no API keys (--api-keys FILE) and --open-reads: anyone on the network ({self.host}) can "
                        "detect, verify, search and list the enrolled people; writes are refused")
            return "no API keys (--api-keys FILE): serving read-only, writes (enroll, remove) are refused"
        if self.open_reads and not is_loopback(self.host):
            return (f"--open-reads: anyone on the network ({self.host}) can detect, verify, search and list the "
                    "enrolled people without a key")
        return None
