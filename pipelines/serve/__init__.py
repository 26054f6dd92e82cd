"""``facerec serve``: the HTTP service, a second front end beside :mod:`pipelines.cli`.

:func:`create_app` builds the FastAPI app (:mod:`.app`; routes in :mod:`.routes`, their
shared state and access check in :mod:`.deps`); :mod:`.auth` handles API keys and the rule of
which routes need one, :mod:`.limits` upload limits and content sniffing, :mod:`.quota` the
per-client request rate and pixels in flight, :mod:`.prometheus` Prometheus metrics, :mod:`.workers` the
inference thread pool, :mod:`.galleries` the named, locked, durably saved galleries and
:mod:`.server` running it from Python. The page at ``/`` lives in ``static/``.
"""
from __future__ import annotations

from typing import Any

from .config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI is imported only when an app is made: `facerec --help` and every other
    # subcommand import this package (through serve_cmd) and should not pay for it.
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
