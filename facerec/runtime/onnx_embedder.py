"""Aligned crops → L2-normalised embeddings on onnxruntime: :class:`OnnxEmbedder`, the
torch-free twin of :class:`facerec.runtime.embedder.Embedder`.

It reads models written by ``facerec export`` (``input`` (N, 3, H, W) → ``embedding``, and
``features`` in newer exports), with the preprocessing spec and the checkpoint's metadata
stored in the file, so ``fingerprint()`` (the model id galleries record), the threshold and
the search threshold are those of the ``.pt`` it was exported from.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec.errors import ModelError
from facerec.runtime.onnx_runtime import describe_model, open_session, session_metadata
from facerec.similarity import l2_normalize

log = logging.getLogger(__name__)


class OnnxEmbedder:
    """An exported embedder: aligned uint8 crops → (N, D) float32 unit vectors (fp32).

    The session is opened on construction; its first run builds kernels for the batch size.
    """

    precision = "fp32"  # what the ONNX graph computes in (recorded by evaluation caches)
    runtime = "onnx"  # what runs the network (part of a cache key: :func:`facerec.io.cache.embedder_settings`)

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        self.path = Path(path)
        self._session = open_session(self.path, threads)
        self.preprocessing, self.embedding_size, self.backbone_name, self.metadata = describe_model(
            session_metadata(self._session), str(self.path))
        outputs = {o.name for o in self._session.get_outputs()}
        self._output = "features" if "features" in outputs else "embedding"

    @classmethod
    def load(cls, path: str | os.PathLike, **opts: Any) -> "OnnxEmbedder":
        """Same as the constructor (mirrors :meth:`Embedder.load`)."""
        return cls(path, **opts)

    def fingerprint(self) -> str:
        """The fingerprint of the checkpoint this was exported from (the gallery model id)."""
        return str(self.metadata["fingerprint"])

    def _run(self, x: np.ndarray) -> np.ndarray:
        # (N, 3, H, W) → (N, D) raw features (or unit embeddings for old exports)
        return self._session.run([self._output], {"input": x})[0]

    def embed(self, crops: np.ndarray | Sequence[np.ndarray], batch_size: int = 64, flip: bool = False) -> np.ndarray:
        """Aligned crops (N, H, W, 3) uint8 RGB → (N, D) float32 L2-normalised embeddings.

        ``flip``: the sum of the features of each crop and its mirror (as the torch embedder).
        """
        return self.embed_with_norms(crops, batch_size, flip)[0]

    def embed_with_norms(self, crops: np.ndarray | Sequence[np.ndarray], batch_size: int = 64,
                         flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`embed` and the (N,) norms of the raw features before normalisation (with
        ``flip``, of the mean of the two views' features; NaN for old exports without a
        ``features`` output). The norm carries quality for some models (:mod:`facerec.quality`)."""
        crops = list(crops) if not isinstance(crops, np.ndarray) else crops
        if len(crops) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32), np.zeros(0, np.float32)
        if flip and self._output != "features":
            raise ModelError(f"{self.path}: this export has no 'features' output for flip; re-export it")
        out, norms = [], []
        for i in range(0, len(crops), batch_size):
            x = self.preprocessing.to_array(crops[i:i + batch_size])
            feats = self._run(x)  # (B, D)
            if flip:
                feats = feats + self._run(np.ascontiguousarray(x[:, :, :, ::-1]))
            n = np.linalg.norm(feats, axis=1) / (2.0 if flip else 1.0)
            norms.append(n if self._output == "features" else np.full(len(n), np.nan))
            out.append(l2_normalize(feats))
        return np.concatenate(out).astype(np.float32, copy=False), np.concatenate(norms).astype(np.float32)
