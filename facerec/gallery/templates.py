"""The raw template matrix of a FAISS gallery: the source of truth the index is built from.

Keeping the exact unit vectors (4·D bytes each) beside the index lets the gallery train an
IVF/PQ index once enough templates exist, rebuild indexes that cannot delete (HNSW),
recompute mean templates, and switch index types, without re-reading any photo.
"""
from __future__ import annotations

import numpy as np


class TemplateStore:
    """Rows of (template id, owner identity id, unit vector), template ids strictly increasing.

    Appends are amortised O(1) (capacity doubling); removals compact in O(N).
    """

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self._vectors = np.empty((0, self.dim), dtype=np.float32)  # (capacity, D)
        self._ids = np.empty(0, dtype=np.int64)                     # (capacity,) template ids
        self._owners = np.empty(0, dtype=np.int64)                  # (capacity,) identity ids
        self._n = 0
        self.next_id = 0

    @classmethod
    def from_arrays(cls, vectors: np.ndarray, ids: np.ndarray, owners: np.ndarray, next_id: int) -> "TemplateStore":
        """Rebuild from saved arrays (validated: shapes agree, ids increasing and < next_id)."""
        if vectors.ndim != 2 or ids.shape != (len(vectors),) or owners.shape != (len(vectors),):
            raise ValueError(f"inconsistent template arrays: {vectors.shape}, {ids.shape}, {owners.shape}")
        if len(ids) and (np.any(np.diff(ids) <= 0) or ids[0] < 0 or ids[-1] >= next_id):
            raise ValueError("template ids are not strictly increasing in [0, next_id)")
        store = cls(vectors.shape[1])
        store._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        store._ids = ids.astype(np.int64)
        store._owners = owners.astype(np.int64)
        store._n = len(vectors)
        store.next_id = int(next_id)
        return store

    def __len__(self) -> int:
        return self._n

    @property
    def vectors(self) -> np.ndarray:
        """(N, D) float32 view."""
        return self._vectors[:self._n]

    @property
    def ids(self) -> np.ndarray:
        return self._ids[:self._n]

    @property
    def owners(self) -> np.ndarray:
        return self._owners[:self._n]

    def append(self, vectors: np.ndarray, owner: int | np.ndarray) -> np.ndarray:
        """Store (M, D) ``vectors`` for identity ``owner`` (one id, or (M,) ids, one per row);
        returns their new template ids."""
        m = len(vectors)
        need = self._n + m
        if need > len(self._ids):
            cap = max(need, 2 * len(self._ids), 16)
            self._vectors = _grow(self._vectors, cap)
            self._ids = _grow(self._ids, cap)
            self._owners = _grow(self._owners, cap)
        ids = np.arange(self.next_id, self.next_id + m, dtype=np.int64)
        self._vectors[self._n:need] = vectors
        self._ids[self._n:need] = ids
        self._owners[self._n:need] = owner
        self._n = need
        self.next_id += m
        return ids

    def remove_owner(self, owner: int) -> np.ndarray:
        """Delete every template of ``owner``; returns the deleted template ids."""
        keep = self.owners != owner
        gone = self.ids[~keep].copy()
        n = int(keep.sum())
        self._vectors = np.ascontiguousarray(self.vectors[keep])
        self._ids, self._owners = self.ids[keep], self.owners[keep]
        self._n = n
        return gone

    def of_owner(self, owner: int) -> np.ndarray:
        """(M, D) templates of ``owner``."""
        return self.vectors[self.owners == owner]

    def owners_of(self, ids: np.ndarray) -> np.ndarray:
        """Owner identity ids for template ``ids`` (any shape; -1 stays -1)."""
        pos = np.searchsorted(self.ids, ids)
        pos = np.clip(pos, 0, max(self._n - 1, 0))
        found = (ids >= 0) & (self._n > 0)
        if self._n:
            found &= self.ids[pos] == ids
        return np.where(found, self.owners[pos] if self._n else -1, -1)


def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.empty((cap,) + a.shape[1:], dtype=a.dtype)
    out[:len(a)] = a
    return out
