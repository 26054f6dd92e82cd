"""Where facerec keeps files outside the repository: one rule for every cache and the models.

* ``cache_root()``: ``$FACEREC_CACHE_DIR``, else ``~/.cache/facerec``. Evaluation embeddings
  live in ``<root>/embeddings``, teacher embeddings in ``<root>/teacher``.
* ``models_dir()``: ``$FACEREC_MODELS_DIR``, else ``<root>/models``: the named models that
  setup fetched (``facerec models fetch NAME``); nothing is downloaded at run time.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FACEREC_CACHE_DIR"
MODELS_ENV = "FACEREC_MODELS_DIR"


def cache_root() -> Path:
    """``$FACEREC_CACHE_DIR`` if set and non-empty, else ``~/.cache/facerec``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "facerec"


def cache_dir(kind: str) -> Path:
    """The sub-folder of :func:`cache_root` for one kind of cached result (not created)."""
    return cache_root() / kind


def models_dir() -> Path:
    """``$FACEREC_MODELS_DIR`` if set and non-empty, else ``<cache root>/models``."""
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else cache_root() / "models"
