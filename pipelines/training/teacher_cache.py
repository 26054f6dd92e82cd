"""Teacher embeddings computed once per crop and kept on disk outside the repository, in
:mod:`facerec.io.cache`'s store: an entry per crop, keyed by the content of its decoded pixels
(:func:`facerec.io.cache.content_key`), in a cache named by the teacher's ``cache_settings`` —
its file's sha256 and everything else that changes its output (input spec: crop template,
colour order, scale/mean/std; runtime; precision). Another teacher or another setting, another
cache. Entries are written every :data:`PART_SIZE` crops, so an interrupted run keeps what it
finished, and several runs may fill one cache at once.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from facerec.io.cache import ArrayCache, cache_dir, content_key

from .teacher import Teacher

log = logging.getLogger(__name__)

#: Crops embedded (and written) at a time.
PART_SIZE = 2048


def default_teacher_cache() -> Path:
    """``<cache root>/teacher`` (:func:`facerec.io.cache.cache_root`)."""
    return cache_dir("teacher")


def open_teacher_cache(folder: str | Path, teacher: Teacher) -> ArrayCache:
    """The cache of ``teacher``'s embeddings in ``folder``."""
    return ArrayCache(folder, f"teacher-{teacher.sha256[:16]}", teacher.cache_settings,
                      {"emb": ((teacher.dim,), "float32")})


def teacher_embeddings(teacher: Teacher, n: int, crop: Callable[[int], np.ndarray], cache_dir: str | Path,
                       progress: bool = True, desc: str = "teacher") -> np.ndarray:
    """(n, D) teacher embeddings of crops ``crop(0..n-1)``; embeds (with a progress bar over the
    n crops) and caches only the crops not already cached for this teacher. One pass: each
    crop is decoded once, for its key and, when missing, for the teacher (at most PART_SIZE
    decoded crops are held at a time)."""
    cache = open_teacher_cache(cache_dir, teacher)
    keys: list[str] = []
    pending: dict[str, np.ndarray] = {}  # missing crops, by key (a crop listed twice is embedded once)

    def flush() -> None:
        if pending:
            for k, e in zip(pending, teacher.embed(np.stack(list(pending.values())))):
                cache.put(k, emb=e)
            cache.flush()
            pending.clear()

    embedded = 0
    with tqdm(total=n, desc=desc, unit="crop", disable=not progress) as bar:
        for i in range(n):
            c = crop(i)
            k = content_key(c)
            keys.append(k)
            if k not in pending and k not in cache:
                pending[k] = c
                embedded += 1
                if len(pending) == PART_SIZE:
                    flush()
            bar.update(1)
        flush()
    if embedded:
        log.info("%s: embedded %d of %d crops (%d were cached in %s)", desc, embedded, n, n - embedded, cache.path)
    out = np.stack([cache.get(k)["emb"] for k in keys]).astype(np.float32) if n else np.zeros((0, teacher.dim), np.float32)
    cache.close()
    return out
