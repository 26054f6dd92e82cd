"""The cheap quality signals of image files, measured once and cached, for ``benchmarks.quality``.

Per image (the face nearest the centre, as LFW evaluation takes it; :mod:`pipelines.evaluate`'s
detection cache is reused): the 5 landmarks, the detector score, whether a face was detected,
the variance of the Laplacian of the aligned crop, the norm of the model's raw (not yet
L2-normalised) output and the embedding (that output normalised: what
:func:`pipelines.evaluate.embed_image_files` returns, computed here in the same pass so the model
runs once per image).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from facerec import FaceRecognizer
from facerec.photo import open_photo
from facerec.quality import sharpness
from pipelines.embedding_cache import ArrayCache, file_key, spec_hash
from pipelines.evaluate.embedding import central_landmarks, open_caches

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what is stored changes


@dataclass(frozen=True)
class ImageSignals:
    """Signals of N images in ``paths`` order."""

    paths: list[Path]
    embeddings: np.ndarray  # (N, D) unit rows
    landmarks: np.ndarray   # (N, 5, 2) in the image's pixels
    det_score: np.ndarray   # (N,) 0 where no face was detected
    detected: np.ndarray    # (N,) bool
    laplacian: np.ndarray   # (N,) variance of the Laplacian of the aligned crop
    norm: np.ndarray        # (N,) norm of the raw model output


def image_signals(rec: FaceRecognizer, paths: Sequence[str | os.PathLike], cache_dir: Path,
                  batch_size: int = 64) -> ImageSignals:
    """Measure (or read from the cache) every image's signals."""
    from tqdm import tqdm

    uniq = list(dict.fromkeys(Path(p) for p in paths))
    det_cache, _ = open_caches(rec, False, cache_dir)
    e = rec.embedder
    spec = {"format": FORMAT, "fingerprint": e.fingerprint(), "det": str(det_cache.path)}
    qcache = ArrayCache(cache_dir / f"quality-{spec_hash(spec)}.npz",
                        {"landmarks": ((5, 2), "float32"), "score": ((), "float32"), "detected": ((), "bool"),
                         "laplacian": ((), "float64"), "norm": ((), "float32"),
                         "embedding": ((e.embedding_size,), "float32")})
    keys = [file_key(p) for p in uniq]
    todo = [i for i, k in enumerate(keys) if k not in qcache]
    for start in tqdm(range(0, len(todo), batch_size), desc="quality signals", unit="batch"):
        chunk = todo[start:start + batch_size]
        crops, rows = [], []
        for i in chunk:
            photo = open_photo(uniq[i])
            lm, ok = central_landmarks(rec, photo, keys[i], det_cache)
            crop = rec.crop(photo, lm)
            crops.append(crop)
            rows.append((lm, float(det_cache.get(keys[i])["score"]), ok, sharpness(crop)))
        raw = e._run(e.preprocessing.to_array(np.stack(crops)))  # (B, D) before L2 normalisation
        for i, (lm, sc, ok, lap), f in zip(chunk, rows, raw):
            qcache.put(keys[i], landmarks=lm, score=sc, detected=ok, laplacian=lap, norm=float(np.linalg.norm(f)),
                       embedding=f / max(float(np.linalg.norm(f)), 1e-12))
        if start // batch_size % 20 == 19:
            qcache.save()
    qcache.save()
    det_cache.save()
    r = [qcache.get(k) for k in keys]
    return ImageSignals(uniq, np.stack([x["embedding"] for x in r]), np.stack([x["landmarks"] for x in r]),
                        np.array([float(x["score"]) for x in r]), np.array([bool(x["detected"]) for x in r]),
                        np.array([float(x["laplacian"]) for x in r]), np.array([float(x["norm"]) for x in r]))
