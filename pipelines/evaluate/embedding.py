"""Embedding image files for evaluation: detect → the face nearest the image centre (the
LFW convention; no detection falls back to the fixed centre crop, counted) → align →
batched embed, with detections and embeddings cached (:mod:`facerec.io.cache`)."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec import FaceRecognizer
from facerec.io.photo import Photo, open_photo
from facerec.recognizer import EmbedderLike
from facerec.alignment import center_crop_landmarks
from facerec.detection.detector import choose_face

from facerec.io.cache import ArrayCache, cache_dir, detector_settings, embedder_settings, file_key, remove_caches

log = logging.getLogger(__name__)

#: Seconds between cache checkpoints during a long embedding run.
CACHE_SAVE_EVERY_S = 60.0


@dataclass(frozen=True)
class EmbeddedImages:
    """Embeddings of image files: ``embeddings`` (N, D) float32 unit rows in ``paths`` order;
    ``detected`` (N,) False where the centre-crop fallback was used."""

    paths: list[Path]
    embeddings: np.ndarray
    detected: np.ndarray

    def index(self) -> dict[Path, int]:
        return {p: i for i, p in enumerate(self.paths)}

    @property
    def fallback_paths(self) -> list[Path]:
        return [p for p, d in zip(self.paths, self.detected) if not d]


def default_cache_dir() -> Path:
    """``<cache root>/embeddings`` (:func:`facerec.io.cache.cache_root`: ``$FACEREC_CACHE_DIR``,
    else ``~/.cache/facerec``)."""
    return cache_dir("embeddings")


#: The fields of the two caches: the central face's detection, and the embedding of its crop.
DETECT_FIELDS = {"landmarks": ((5, 2), "float32"), "score": ((), "float32"), "detected": ((), "bool")}


def embed_fields(embedder: EmbedderLike) -> dict[str, tuple[tuple[int, ...], str]]:
    return {"embedding": ((embedder.embedding_size,), "float32"), "detected": ((), "bool")}


def embed_settings(embedder: EmbedderLike, flip: bool, source: Any) -> dict[str, Any]:
    """What changes a cached embedding besides the image: the model, flip, and ``source`` (how
    the crop was made: the detector's settings, frontalisation; ``"bin"`` for aligned sets)."""
    return {**embedder_settings(embedder), "flip": bool(flip), "source": source}


def _embed_prefix(embedder: EmbedderLike) -> str:
    return f"embed-{embedder.fingerprint()}-"


def drop_embedding_caches(embedder: EmbedderLike, cache_dir: str | os.PathLike) -> int:
    """Delete ``cache_dir``'s cached embeddings of this model (any settings); other models'
    and the detections stay. Returns the number of caches removed."""
    return remove_caches(cache_dir, _embed_prefix(embedder))


def open_caches(recognizer: FaceRecognizer, flip: bool, cache_dir: Path | None) -> tuple[ArrayCache, ArrayCache]:
    """(detections, embeddings) caches; in memory only without ``cache_dir`` or with a detector
    whose settings cannot be named."""
    det = detector_settings(recognizer.detector)
    det_spec = None if det is None else {"detector": det, "select": "central"}
    source = None if det_spec is None else {**det_spec, "frontalize": bool(getattr(recognizer, "frontalize", False))}
    emb = recognizer.embedder
    det_cache = ArrayCache(cache_dir, "detect", det_spec, DETECT_FIELDS)
    emb_cache = ArrayCache(cache_dir, _embed_prefix(emb).rstrip("-"),
                           None if source is None else embed_settings(emb, flip, source), embed_fields(emb))
    return det_cache, emb_cache


def central_landmarks(recognizer: FaceRecognizer, photo: Photo, key: str, cache: ArrayCache) -> tuple[np.ndarray, bool]:
    """(5, 2) landmarks of the face nearest the centre, or the centre-crop fallback."""
    hit = cache.get(key)
    w, h = photo.size
    if hit is None:
        det = choose_face(recognizer.detector.detect(photo), "central", w, h)
        lm = det.landmarks if det is not None else np.zeros((5, 2), np.float32)
        cache.put(key, landmarks=lm, score=det.score if det is not None else 0.0, detected=det is not None)
        hit = cache.get(key)
    if bool(hit["detected"]):
        return hit["landmarks"], True
    return center_crop_landmarks(w, h, recognizer.embedder.preprocessing.template), False


def embed_image_files(recognizer: FaceRecognizer, paths: Sequence[str | os.PathLike], *, flip: bool = False,
                      batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
                      progress: bool = True) -> EmbeddedImages:
    """Embed the central face of each image file (duplicates embedded once), batched and cached.

    Same result as ``recognizer.face(path, select="central", fallback_center=True, flip=flip)``,
    but the embedder runs on batches and detections/embeddings come from the cache when known.
    """
    from tqdm import tqdm

    uniq = list(dict.fromkeys(Path(p) for p in paths))
    det_cache, emb_cache = open_caches(recognizer, flip, Path(cache_dir) if cache_dir is not None else None)
    keys = [file_key(p) for p in uniq]
    todo = [i for i, k in enumerate(keys) if k not in emb_cache]
    if todo:
        log.info("embedding %d images (%d cached)", len(todo), len(uniq) - len(todo))
    last_save = time.monotonic()
    with tqdm(total=len(todo), desc="detect+embed", unit="img", disable=not progress or None) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            crops, found = [], []
            for i in chunk:
                photo = open_photo(uniq[i])
                lm, ok = central_landmarks(recognizer, photo, keys[i], det_cache)
                crops.append(recognizer.crop(photo, lm))
                found.append(ok)
                bar.update(1)
            embs = recognizer.embedder.embed(np.stack(crops), batch_size=batch_size, flip=flip)
            for i, e, ok in zip(chunk, embs, found):
                emb_cache.put(keys[i], embedding=e, detected=ok)
            if time.monotonic() - last_save > CACHE_SAVE_EVERY_S:
                det_cache.flush()
                emb_cache.flush()
                last_save = time.monotonic()
    det_cache.close()
    rows = [emb_cache.get(k) for k in keys]
    emb_cache.close()
    return EmbeddedImages(uniq, np.stack([r["embedding"] for r in rows]).astype(np.float32),
                          np.array([bool(r["detected"]) for r in rows]))
