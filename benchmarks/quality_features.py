"""The cheap quality signals of image files, measured once and cached, for ``benchmarks.quality``.

Per image (the face nearest the centre, as LFW evaluation takes it; no detection = the
centre-crop fallback, detector score 0): the 5 landmarks, the detector score, the normalised
embedding, and the variance of the Laplacian of the aligned crop. Two ways:

* ``norms=False``: detections and embeddings from :mod:`pipelines.evaluate`'s caches (through
  :func:`pipelines.evaluate.embed_image_files`, so after a ``facerec evaluate lfw`` only the
  crops' sharpness is computed here);
* ``norms=True``: also the norm of the model's raw (not yet L2-normalised) output, so the model
  runs on every image here, once, and the embedding is that output normalised.
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
from pipelines.evaluate import embed_image_files
from pipelines.evaluate.embedding import central_landmarks, open_caches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSignals:
    """Signals of N images in ``paths`` order."""

    paths: list[Path]
    embeddings: np.ndarray  # (N, D) unit rows
    landmarks: np.ndarray   # (N, 5, 2) in the image's pixels (the centre-crop fallback's where not detected)
    det_score: np.ndarray   # (N,) 0 where no face was detected
    detected: np.ndarray    # (N,) bool
    laplacian: np.ndarray   # (N,) variance of the Laplacian of the aligned crop
    norm: np.ndarray        # (N,) norm of the raw model output (NaN where not measured)


def image_signals(rec: FaceRecognizer, paths: Sequence[str | os.PathLike], cache_dir: Path, *,
                  norms: bool = False, batch_size: int = 64) -> ImageSignals:
    """Measure (or read from the caches) every image's signals."""
    from tqdm import tqdm

    uniq = list(dict.fromkeys(Path(p) for p in paths))
    emb = None if norms else embed_image_files(rec, uniq, cache_dir=cache_dir, batch_size=batch_size)
    det_cache, _ = open_caches(rec, False, cache_dir)
    e = rec.embedder
    fields = {"landmarks": ((5, 2), "float32"), "score": ((), "float32"), "detected": ((), "bool"),
              "laplacian": ((), "float64"), "norm": ((), "float32")}
    if norms:
        fields["embedding"] = ((e.embedding_size,), "float32")
        spec: dict = {"format": 1, "fingerprint": e.fingerprint(), "det": str(det_cache.path)}
    else:
        spec = {"format": 2, "fingerprint": e.fingerprint(), "det": str(det_cache.path), "norms": False}
    qcache = ArrayCache(cache_dir / f"quality-{spec_hash(spec)}.npz", fields)
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
            rows.append((lm, float(det_cache.get(keys[i])["score"]) if ok else 0.0, ok, sharpness(crop)))
        raw = e._run(e.preprocessing.to_array(np.stack(crops))) if norms else None  # (B, D) before L2 normalisation
        for n, (i, (lm, sc, ok, lap)) in enumerate(zip(chunk, rows)):
            extra = {}
            if raw is not None:
                nrm = float(np.linalg.norm(raw[n]))
                extra = {"embedding": raw[n] / max(nrm, 1e-12), "norm": nrm}
            qcache.put(keys[i], landmarks=lm, score=sc, detected=ok, laplacian=lap, **({"norm": np.nan} | extra))
        if start // batch_size % 20 == 19:
            qcache.save()
    qcache.save()
    det_cache.save()
    r = [qcache.get(k) for k in keys]
    embeddings = np.stack([x["embedding"] for x in r]) if norms else emb.embeddings  # type: ignore[union-attr]
    return ImageSignals(uniq, embeddings, np.stack([x["landmarks"] for x in r]),
                        np.array([float(x["score"]) for x in r]), np.array([bool(x["detected"]) for x in r]),
                        np.array([float(x["laplacian"]) for x in r]), np.array([float(x["norm"]) for x in r]))
