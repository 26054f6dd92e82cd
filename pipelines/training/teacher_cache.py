"""Teacher embeddings computed once per crop and kept on disk outside the repository.

Layout: ``<cache_dir>/<teacher sha256[:16]>/part-<time>-<pid>.npz``, each part holding ``keys``
(M, 20) uint8 — the sha1 of a crop's decoded pixels (and shape) — and ``emb`` (M, D) float32.
A different teacher file has a different sha256, hence a different folder: changing the teacher
invalidates everything, and two teachers never mix. Parts are written atomically as they are
computed, so an interrupted run keeps what it finished; part names are unique per process, so
concurrent runs never overwrite each other's parts. Loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from facerec.atomic import atomic_write
from facerec.cache import cache_dir

from .teacher import Teacher

log = logging.getLogger(__name__)

PART_SIZE = 2048


def default_teacher_cache() -> Path:
    """``<cache root>/teacher`` (:func:`facerec.cache.cache_root`)."""
    return cache_dir("teacher")


def crop_key(crop: np.ndarray) -> bytes:
    """20-byte content key of one decoded (H, W, 3) uint8 crop."""
    h = hashlib.sha1(np.ascontiguousarray(crop).tobytes())
    h.update(repr(crop.shape).encode())
    return h.digest()


class TeacherCache:
    """The cached embeddings of one teacher file (identified by its sha256)."""

    def __init__(self, cache_dir: str | Path, teacher_sha256: str) -> None:
        self.dir = Path(cache_dir) / teacher_sha256[:16]
        self._rows: dict[bytes, np.ndarray] = {}
        if self.dir.is_dir():
            for part in sorted(self.dir.glob("part-*.npz")):
                try:
                    with np.load(part, allow_pickle=False) as z:
                        keys, emb = z["keys"], z["emb"]
                except (OSError, ValueError, KeyError) as exc:  # a damaged part is recomputed
                    log.warning("teacher cache: ignoring %s (%s)", part.name, exc)
                    continue
                self._rows.update((bytes(k), e) for k, e in zip(keys, emb))

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: bytes) -> np.ndarray | None:
        return self._rows.get(key)

    def add(self, keys: Sequence[bytes], emb: np.ndarray) -> None:
        """Store rows and write them as a new part (atomically)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"part-{time.time_ns():020d}-{os.getpid()}.npz"
        with atomic_write(path) as f:
            np.savez(f, keys=np.frombuffer(b"".join(keys), np.uint8).reshape(len(keys), 20),
                     emb=emb.astype(np.float32))
        self._rows.update(zip(keys, emb.astype(np.float32)))


def teacher_embeddings(teacher: Teacher, n: int, crop: Callable[[int], np.ndarray], cache_dir: str | Path,
                       progress: bool = True, desc: str = "teacher") -> np.ndarray:
    """(n, D) teacher embeddings of crops ``crop(0..n-1)``; embeds (with a progress bar over the
    n crops) and caches only the crops not already cached for this teacher file. One pass: each
    crop is decoded once, for its key and, when missing, for the teacher (at most PART_SIZE
    decoded crops are held at a time)."""
    cache = TeacherCache(cache_dir, teacher.sha256)
    keys: list[bytes] = []
    pending: dict[bytes, np.ndarray] = {}  # missing crops, by key (a crop listed twice is embedded once)

    def flush() -> None:
        if pending:
            cache.add(list(pending), teacher.embed(np.stack(list(pending.values()))))
            pending.clear()

    embedded = 0
    with tqdm(total=n, desc=desc, unit="crop", disable=not progress) as bar:
        for i in range(n):
            c = crop(i)
            k = crop_key(c)
            keys.append(k)
            if cache.get(k) is None and k not in pending:
                pending[k] = c
                embedded += 1
                if len(pending) == PART_SIZE:
                    flush()
            bar.update(1)
        flush()
    if embedded:
        log.info("%s: embedded %d of %d crops (%d were cached in %s)", desc, embedded, n, n - embedded, cache.dir)
    return np.stack([cache.get(k) for k in keys]).astype(np.float32) if n else np.zeros((0, teacher.dim), np.float32)
