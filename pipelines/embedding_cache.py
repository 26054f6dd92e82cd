"""A disposable on-disk cache of per-image results (detections, embeddings) as one ``.npz``.

Evaluations embed the same images again and again (LFW: 13,233 images, ~10 min of MTCNN on
2 cores). Two caches make a rerun nearly free:

* detections, keyed by detector settings: a new model reuses them and only re-embeds;
* embeddings, keyed by model fingerprint + preprocessing + flip + precision + detector.

An entry's key is the image's absolute path with its size and mtime, so an edited image is
recomputed. Files are written atomically (temporary file + rename); concurrent writers can
lose each other's new entries but never corrupt the file. A corrupt or mismatched file is
ignored (logged) and rebuilt. Loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from facerec.atomic import atomic_write
from facerec.cache import cache_dir

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``<cache root>/embeddings`` (:func:`facerec.cache.cache_root`: ``$FACEREC_CACHE_DIR``,
    else ``~/.cache/facerec``)."""
    return cache_dir("embeddings")


def spec_hash(spec: Any) -> str:
    """12 hex digits identifying a JSON-able settings object."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]


def file_key(path: str | os.PathLike, suffix: str = "") -> str:
    """Cache key of an image file: absolute path, size and mtime (plus ``suffix``)."""
    p = Path(path).resolve()
    st = p.stat()
    return f"{p}|{st.st_size}|{st.st_mtime_ns}{suffix}"


class ArrayCache:
    """Rows of named fixed-shape arrays keyed by string, stored in one ``.npz``.

    ``fields``: name → (row shape, dtype). ``path=None`` keeps everything in memory.
    """

    def __init__(self, path: str | os.PathLike | None, fields: dict[str, tuple[tuple[int, ...], str]]) -> None:
        self.path = Path(path) if path is not None else None
        self.fields = {k: (tuple(s), np.dtype(d)) for k, (s, d) in fields.items()}
        self._rows: dict[str, dict[str, np.ndarray]] = {}
        self._dirty = 0
        if self.path is not None and self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys = [str(k) for k in z["keys"]]
                cols = {}
                for name, (shape, dtype) in self.fields.items():
                    a = z[name]
                    if a.shape != (len(keys), *shape) or a.dtype != dtype:
                        raise ValueError(f"field {name}: {a.dtype}{a.shape}, expected {dtype}{(len(keys), *shape)}")
                    cols[name] = a
        except Exception as exc:  # the cache is disposable: rebuild rather than fail
            log.warning("ignoring unreadable cache %s (%s)", self.path, exc)
            return
        self._rows = {k: {n: cols[n][i] for n in self.fields} for i, k in enumerate(keys)}
        log.info("cache %s: %d entries", self.path, len(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        return self._rows.get(key)

    def put(self, key: str, **values: Any) -> None:
        if set(values) != set(self.fields):
            raise ValueError(f"expected fields {sorted(self.fields)}, got {sorted(values)}")
        row = {}
        for name, (shape, dtype) in self.fields.items():
            v = np.asarray(values[name], dtype=dtype)
            if v.shape != shape:
                raise ValueError(f"field {name}: shape {v.shape}, expected {shape}")
            row[name] = v
        self._rows[key] = row
        self._dirty += 1

    @property
    def dirty(self) -> int:
        """Entries added since the last save."""
        return self._dirty

    def save(self) -> None:
        """Write atomically (no-op without a path or without new entries)."""
        if self.path is None or not self._dirty:
            return
        keys = list(self._rows)
        arrays = {"keys": np.array(keys, dtype=str)}
        for name, (shape, dtype) in self.fields.items():
            arrays[name] = (np.stack([self._rows[k][name] for k in keys]) if keys
                            else np.zeros((0, *shape), dtype))
        with atomic_write(self.path) as f:
            np.savez(f, **arrays)
        self._dirty = 0
