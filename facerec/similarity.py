"""The one similarity definition: cosine of L2-normalised embeddings (= inner product).

Verification scores, thresholds and gallery search (FAISS inner product on unit vectors) all
mean the same number, so a threshold chosen by verification applies to search unchanged.
"""
from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise unit vectors, float32; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, eps)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise-row cosine: ``a`` (N, D) and ``b`` (N, D) → (N,); also accepts (D,) vectors → scalar array."""
    a, b = l2_normalize(a), l2_normalize(b)
    return np.sum(a * b, axis=-1)
