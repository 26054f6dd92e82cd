"""Per-client limits: a request rate and pixels in flight, and the service's own pixel budget.

A *client* is an API key (its digest) when the request carries a valid one, else the peer's
IP address (behind a reverse proxy every client shares the proxy's address).

* :class:`RateLimiter`: a token bucket per client. ``Rate(100, 1.0)`` ("100/s") holds up to
  100 tokens and refills 100 per second; each request takes one.
* :class:`PixelBudget`: the summed width × height of the uploads each client has in flight
  (admitted, not yet answered), and of all clients together. Pixels are read from the image
  headers (:func:`header_pixels`) before anything is decoded, and given back when the work
  ends, whether it succeeded or failed.

Over a limit: :class:`QuotaExceeded` with the seconds to wait (answered 429 with
``Retry-After``), or with none when the request could never fit (answered 413). Pure Python
(no web framework): :mod:`.config` and the CLI import it.
"""
from __future__ import annotations

import io
import logging
import math
import re
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from PIL import Image

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds per unit of ``--rate N/UNIT``.
RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
#: Buckets kept before full (idle) ones are forgotten: bounds memory under many client IPs.
MAX_TRACKED_CLIENTS = 10_000


@dataclass(frozen=True)
class Rate:
    """``requests`` per ``seconds``, refilled smoothly; also the largest burst."""

    requests: int
    seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or not self.seconds > 0:
            raise ValueError(f"a rate needs at least 1 request per a positive period, "
                             f"got {self.requests}/{self.seconds}s")

    @classmethod
    def parse(cls, text: str) -> "Rate | None":
        """``"100/s"``, ``"600/m"``, ``"5000/h"`` → a Rate; ``"off"`` → None (no limit)."""
        text = text.strip().lower()
        if text in ("off", "0", "none"):
            return None
        m = re.fullmatch(r"(\d+)\s*/\s*([smh])", text)
        if not m:
            raise ValueError(f"--rate: expected N/s, N/m, N/h or 'off', got {text!r}")
        return cls(int(m.group(1)), RATE_UNITS[m.group(2)])

    def __str__(self) -> str:
        unit = {v: k for k, v in RATE_UNITS.items()}.get(self.seconds)
        return f"{self.requests}/{unit}" if unit else f"{self.requests}/{self.seconds:g}s"


class QuotaExceeded(Exception):
    """A limit refused the request. ``retry_after``: whole seconds until it may succeed
    (429), or None when it never can, whatever the wait (413)."""

    def __init__(self, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RateLimiter:
    """One token bucket per client; thread-safe; ``clock`` is injectable (tests)."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # client → (tokens, when)

    def _tokens(self, client: str, now: float) -> float:
        tokens, when = self._buckets.get(client, (float(self.rate.requests), now))
        # elapsed × requests / seconds, in this order: whole periods give whole tokens exactly.
        return min(float(self.rate.requests), tokens + max(0.0, now - when) * self.rate.requests / self.rate.seconds)

    def take(self, client: str) -> None:
        """Spend one of ``client``'s tokens, or raise :class:`QuotaExceeded` (429)."""
        with self._lock:
            now = self.clock()
            tokens = self._tokens(client, now)
            if tokens < 1.0 - 1e-9:
                # A refused request spends nothing, so a client retrying early is not pushed further back.
                wait = (1.0 - tokens) * self.rate.seconds / self.rate.requests
                raise QuotaExceeded(f"over this client's request rate of {self.rate} (--rate)",
                                    max(1, math.ceil(wait - 1e-9)))
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_TRACKED_CLIENTS:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        # A full bucket is the same as no bucket: forgetting it changes no answer.
        full = [c for c in self._buckets if self._tokens(c, now) >= self.rate.requests]
        for c in full:
            del self._buckets[c]


class PixelHold:
    """Pixels admitted for one request; given back exactly once, when its work ends.

    The work runs in a worker thread (:meth:`guard`) and gives the pixels back when it ends.
    If the request ends first (client gone, server stopping) before the work started,
    :meth:`abandon` gives them back and the work will not run; once it runs, it keeps them
    until it ends, so the budget never forgets pixels that are still being decoded.
    """

    def __init__(self, budget: "PixelBudget", client: str, pixels: int) -> None:
        self._budget, self.client, self.pixels = budget, client, pixels
        self._lock = threading.Lock()
        self._started = self._released = False

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._budget._give_back(self.client, self.pixels)

    def guard(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn`` wrapped to hold the pixels while it runs and give them back when it ends."""
        def run() -> T:
            with self._lock:
                if self._released:  # abandoned before a worker picked it up
                    raise RuntimeError("request abandoned before its work started")
                self._started = True
            try:
                return fn()
            finally:
                with self._lock:
                    self._release()
        return run

    def abandon(self) -> None:
        """Give the pixels back unless the work started (then it gives them back itself)."""
        with self._lock:
            if not self._started:
                self._release()


class PixelBudget:
    """Pixels in flight, per client (``per_client``) and in all (``total``); thread-safe."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client, self.total = per_client, total
        self._lock = threading.Lock()
        self._by_client: dict[str, int] = {}
        self._all = 0

    def admit(self, client: str, pixels: int) -> PixelHold:
        """Reserve ``pixels`` for ``client``, or raise :class:`QuotaExceeded`: 429 while other
        uploads hold the budget, 413 (``retry_after`` None) when this request alone is over it."""
        if pixels > min(self.per_client, self.total):
            raise QuotaExceeded(f"the images of this request total {pixels:,} pixels, over the limit of "
                                f"{min(self.per_client, self.total):,} pixels in flight "
                                "(--max-pixels-in-flight, --max-pixels-in-flight-total)", None)
        with self._lock:
            mine = self._by_client.get(client, 0)
            if mine + pixels > self.per_client:
                raise QuotaExceeded(f"this client has {mine:,} pixels of images in flight; {pixels:,} more would "
                                    f"pass its limit of {self.per_client:,} (--max-pixels-in-flight)", 1)
            if self._all + pixels > self.total:
                raise QuotaExceeded(f"the service has {self._all:,} pixels of images in flight; {pixels:,} more "
                                    f"would pass its limit of {self.total:,} (--max-pixels-in-flight-total)", 1)
            if pixels:
                self._by_client[client] = mine + pixels
                self._all += pixels
        return PixelHold(self, client, pixels)

    def _give_back(self, client: str, pixels: int) -> None:
        if not pixels:
            return
        with self._lock:
            left = self._by_client.get(client, 0) - pixels
            if left > 0:
                self._by_client[client] = left
            else:  # no entry for idle clients: the table stays as small as the traffic in flight
                self._by_client.pop(client, None)
            self._all -= pixels

    def in_flight(self, client: str | None = None) -> int:
        """Pixels held now by ``client``, or by everyone (None)."""
        with self._lock:
            return self._all if client is None else self._by_client.get(client, 0)


def header_pixels(data: bytes, max_pixels: int) -> int:
    """width × height from an upload's header, decoding no pixel data.

    0 when nothing will be decoded: a header PIL cannot read, or an image over
    ``max_pixels`` — :func:`.limits.decode_upload` refuses both from the same header.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Exception:  # noqa: BLE001 - any unreadable header: the decoder refuses it too
        return 0
    pixels = int(width) * int(height)
    return pixels if pixels <= max_pixels else 0


def request_pixels(uploads: Iterable[bytes], max_pixels: int) -> int:
    """The pixels a request's uploads will decode to (:func:`header_pixels` summed)."""
    return sum(header_pixels(data, max_pixels) for data in uploads)
