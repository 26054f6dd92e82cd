"""The inference worker pool: model calls run in a fixed thread pool, off the event loop.

Threads suffice because torch releases the GIL inside its kernels; the pool's size bounds
how many images are processed at once (memory and CPU), and the event loop stays free to
accept requests, answer /healthz and stream uploads while models run. Set torch's intra-op
threads so that ``workers × torch_threads`` is about the number of cores: more would only
oversubscribe the CPU.

Small requests (at most :data:`SMALL_REQUEST_PIXELS` in all their images, e.g. a verify of two
phone selfies) run in a lane of their own, one thread: they never queue behind a burst of
48 MP uploads, which is what keeps their latency when big photos arrive
(``benchmarks/serve_burst.py``).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from prometheus_client import Gauge

log = logging.getLogger(__name__)
T = TypeVar("T")


def configure_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count (process-wide); None leaves it alone."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(int(threads))
    log.info("torch intra-op threads: %d", threads)


#: Requests whose images hold at most this many pixels in all take the small lane (4 MP: a
#: 2000×2000 photo, or two 1600×1200 ones).
SMALL_REQUEST_PIXELS = 4_000_000


class InferencePool:
    """``await pool.run(fn, *args)`` runs ``fn`` in one of ``workers`` threads;
    ``pool.run(fn, small=True)`` in the small requests' own thread."""

    def __init__(self, workers: int, in_flight: Gauge | None = None) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facerec-infer")
        self._small = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facerec-small")
        self._in_flight = in_flight

    async def run(self, fn: Callable[..., T], *args: object, small: bool = False, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        call = functools.partial(ctx.run, fn, *args, **kwargs)
        executor = self._small if small else self._executor
        if self._in_flight is None:
            return await loop.run_in_executor(executor, call)
        self._in_flight.inc()
        try:
            return await loop.run_in_executor(executor, call)
        finally:
            self._in_flight.dec()

    def shutdown(self) -> None:
        self._small.shutdown(wait=True, cancel_futures=True)
        self._executor.shutdown(wait=True, cancel_futures=True)
