"""The identity gallery over FAISS, with crash-safe persistence.

>>> g = Gallery(recognizer)                                  # doctest: +SKIP
>>> g.enroll("Ada", ["ada1.jpg", "ada2.jpg"])               # doctest: +SKIP
>>> g.search("group.jpg", k=3)[0].identity                   # doctest: +SKIP
>>> g.save("people/"); Gallery.load("people/", recognizer)   # doctest: +SKIP

Index types (``index=``, a FAISS factory string, always with inner-product metric):

``"Flat"`` (default)
    exact search (``IndexFlatIP`` inside ``IndexIDMap2``), 4·D bytes per vector.
``"HNSW32"`` (or ``"HNSW32,Flat"``)
    graph search, fast and accurate at any size, no training; FAISS cannot delete from it,
    so ``remove``/``update`` rebuild the graph from the stored templates.
``"IVF1024,Flat"``, ``"IVF1024,PQ64"``, ``"OPQ64,IVF1024,PQ64"``, ``"PQ64"`` ...
    need training. *Train on enroll*: until the gallery holds ``train_size`` vectors
    (39 × the largest number of k-means centroids: nlist for IVF, 2^nbits = 256 for PQ —
    FAISS's own minimum for stable clustering)
    search stays exact over a flat index; the first enroll that reaches it trains the
    configured index on every vector held and switches to it. Centroids are not retrained
    as the gallery grows further: call :meth:`Gallery.rebuild` after large changes.

Search knobs: ``nprobe`` (IVF lists visited, default 16) and ``ef_search`` (HNSW beam,
default 64, raised to the number of neighbours requested when that is larger).

Besides the index the gallery keeps every template (see :mod:`.templates`), so memory is
4·D bytes per template plus the index's own bytes per vector. With a lossy encoding (PQ, SQ)
and "max" aggregation, 4 × k candidates are re-scored exactly from those templates and the best
k kept, so the open-set threshold means the same as with ``Flat``; recall still depends on the index.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from facerec.io.checksum import file_sha256
from facerec.errors import ModelError
from facerec.similarity import l2_normalize
from facerec.gallery.base import Aggregation, GalleryBase, GalleryError, IdentityInfo, check_metadata
from facerec.gallery.names import validate_identity
from facerec.gallery.storage import POINTER, current_version, save_version
from facerec.gallery.templates import TemplateStore

if TYPE_CHECKING:
    from facerec.recognizer import FaceRecognizer

log = logging.getLogger(__name__)

# faiss-cpu 1.15 computes exact inner products with its sequential SIMD kernel (parallel over
# *queries*) when n_queries × d < distance_compute_blas_threshold, else with BLAS. Its default,
# 128 000, sends every batch under 250 queries at d=512 down the sequential path, which is 5-12×
# slower than BLAS for batches of 16-64 (benchmarks/gallery_search.py, RESULTS.md). For 1-3
# queries the sequential scan is the faster one (BLAS GEMM with one row wastes its packing),
# so BLAS from n_queries × d ≥ 2048 (4 queries at d=512) on.
#: FAISS's distance_compute_blas_threshold for gallery searches (the measured rule above). The
#: setting is process-wide, so it is applied where a search runs (:func:`apply_blas_threshold`,
#: called by every gallery search), never at import; set this to None to leave FAISS's own
#: setting alone (e.g. an application that tunes FAISS itself).
BLAS_THRESHOLD: int | None = 2048


def apply_blas_threshold() -> None:
    """Set FAISS's process-wide BLAS threshold to :data:`BLAS_THRESHOLD` (unless None)."""
    if BLAS_THRESHOLD is not None and faiss.cvar.distance_compute_blas_threshold != BLAS_THRESHOLD:
        log.debug("faiss distance_compute_blas_threshold: %d -> %d",
                  faiss.cvar.distance_compute_blas_threshold, BLAS_THRESHOLD)
        faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD

FORMAT = "facerec.gallery"
FORMAT_VERSION = 1
_META = "gallery.json"
_FILES = {"vectors": "templates.npy", "ids": "template_ids.npy", "owners": "template_owners.npy",
          "index": "index.faiss"}
DEFAULT_INDEX = "Flat"
#: Factory strings whose search scores are exact inner products (full vectors are stored);
#: any other encoding (PQ, SQ, ...) is re-scored from the kept templates ("max" aggregation).
_EXACT_SCORES = re.compile(r"(IVF\d+,)?Flat|HNSW\d+(,Flat)?")
#: Lossy indexes return RERANK_FACTOR × k candidates, re-scored exactly, best k kept.
RERANK_FACTOR = 4
DEFAULT_NPROBE = 16
DEFAULT_EF_SEARCH = 64
#: Loads retried when a concurrent save replaced (and deleted) the version being read.
_LOAD_ATTEMPTS = 20


@dataclass
class _Identity:
    name: str
    metadata: dict[str, Any]
    count: int = 0


class Gallery(GalleryBase):
    """Identity gallery over a FAISS index; see the module and :mod:`.base` docstrings.

    ``recognizer``: for image inputs (and the default threshold and model id); galleries
    of raw embeddings need none, but should pass ``model_id`` so a later recognizer can be
    checked. ``index``: FAISS factory string (inner-product metric).
    """

    def __init__(self, recognizer: "FaceRecognizer | None" = None, *, dim: int | None = None,
                 model_id: str | None = None, aggregation: Aggregation = "max", threshold: float | None = None,
                 index: str = DEFAULT_INDEX, nprobe: int = DEFAULT_NPROBE, ef_search: int = DEFAULT_EF_SEARCH,
                 train_size: int | None = None, model_name: str | None = None,
                 detector_name: str | None = None) -> None:
        if not isinstance(index, str) or not index.strip() or "IDMap" in index:
            raise ValueError(f"index must be a FAISS factory string without IDMap, got {index!r}")
        self._factory = index.strip()
        self._nprobe, self._ef_search = int(nprobe), int(ef_search)
        self._train_size_opt = train_size
        self._store: TemplateStore | None = None
        self._index: faiss.Index | None = None
        self._trained_as_configured = False  # False: exact flat stand-in until train_size
        self._idents: dict[int, _Identity] = {}
        self._iid_of: dict[str, int] = {}
        self._next_iid = 0
        self._max_count: int | None = 0
        self._needs_training = False
        super().__init__(recognizer, dim=dim, model_id=model_id, aggregation=aggregation, threshold=threshold,
                         model_name=model_name, detector_name=detector_name)
        if self._dim is not None:
            self._probe_factory(self._dim)

    # -- introspection --------------------------------------------------------------------------
    @property
    def index_type(self) -> str:
        """The configured FAISS factory string."""
        return self._factory

    @property
    def index(self) -> faiss.Index | None:
        """The FAISS index in use (a flat stand-in while a trainable one awaits data)."""
        return self._index

    def identities(self) -> list[str]:
        return [e.name for e in self._idents.values()]

    def __len__(self) -> int:
        return len(self._idents)

    def __contains__(self, identity: object) -> bool:
        return identity in self._iid_of

    @property
    def num_templates(self) -> int:
        return 0 if self._store is None else len(self._store)

    def _info(self, name: str) -> IdentityInfo:
        e = self._idents[self._iid_of[name]]
        return IdentityInfo(e.name, e.count, dict(e.metadata))

    def _max_templates(self) -> int | None:
        if self._max_count is None:
            self._max_count = max((e.count for e in self._idents.values()), default=0)
        return self._max_count

    # -- index construction -----------------------------------------------------------------------
    def _probe_factory(self, dim: int) -> None:
        """Fail early (``ValueError``) on a factory string FAISS rejects for this dimension;
        records whether the configured index needs training."""
        try:
            probe = faiss.index_factory(dim, self._factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ValueError(f"invalid FAISS index {self._factory!r} for d={dim}: "
                             f"{str(exc).strip().splitlines()[-1]}") from None
        self._needs_training = not probe.is_trained

    def _train_size(self) -> int:
        """Vectors needed before training: FAISS's k-means wants ≥ 39 points per centroid
        (nlist coarse centroids for IVF, 2^nbits per product-quantizer codebook)."""
        if self._train_size_opt is not None:
            return int(self._train_size_opt)
        need = 1000  # other trainable encodings (SQ, LSH, ...): a modest sample
        if (m := re.search(r"IVF(\d+)", self._factory)):
            need = max(need, 39 * int(m.group(1)))
        if (m := re.search(r"PQ\d+(?:x(\d+))?", self._factory)):
            need = max(need, 39 * 2 ** int(m.group(1) or 8))
        return need

    def _empty_index(self, factory: str) -> faiss.Index:
        """An index with add_with_ids/remove_ids on our stable int64 ids: IVF has both natively;
        everything else goes inside IndexIDMap2 (IDMap on IVF would break removal)."""
        inner = faiss.index_factory(self._dim, factory, faiss.METRIC_INNER_PRODUCT)
        if faiss.try_extract_index_ivf(inner) is not None:
            return inner
        return faiss.index_factory(self._dim, "IDMap2," + factory, faiss.METRIC_INNER_PRODUCT)

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """What the index holds: (vectors (N, D), ids (N,)) — templates ("max") or identity
        means ("mean", ids = identity ids)."""
        if self._aggregation == "max":
            return self._store.vectors, self._store.ids
        iids = np.fromiter(self._idents, dtype=np.int64, count=len(self._idents))
        return self._means(iids), iids

    def _means(self, iids: np.ndarray) -> np.ndarray:
        """(len(iids), D) normalised mean templates, from the store in one O(N) pass (no
        per-identity state: a million identities would cost 4 KB each)."""
        if len(iids) == 0:
            return np.empty((0, self._dim), np.float32)
        owners = self._store.owners
        rows = np.flatnonzero(np.isin(owners, iids))
        rows = rows[np.argsort(owners[rows], kind="stable")]
        sorted_owners = owners[rows]
        starts = np.flatnonzero(np.r_[True, sorted_owners[1:] != sorted_owners[:-1]])
        sums = np.add.reduceat(self._store.vectors[rows], starts, axis=0)  # (U, D), one row per identity
        pos = np.searchsorted(sorted_owners[starts], iids)  # every iid has ≥ 1 template
        return l2_normalize(sums[pos])

    def rebuild(self) -> None:
        """Re-create the index from the stored templates (retraining IVF/PQ on all of them when
        there are at least ``train_size``, else an exact flat stand-in)."""
        if self._dim is None:
            return
        vecs, ids = self._rows()
        if self._needs_training and len(vecs) < self._train_size():
            index, trained = self._empty_index("Flat"), False
        else:
            index, trained = self._empty_index(self._factory), True
            if self._needs_training:
                log.info("training FAISS index %s on %d vectors", self._factory, len(vecs))
                index.train(vecs)
        if len(vecs):
            index.add_with_ids(vecs, ids)
        self._index, self._trained_as_configured = index, trained

    def _index_add(self, vecs: np.ndarray, ids: np.ndarray) -> None:
        if self._index is None or (not self._trained_as_configured and self._rows_count() >= self._train_size()):
            self.rebuild()  # first use, or enough data to train: build from every stored row
        else:
            self._index.add_with_ids(vecs, ids)

    def _index_remove(self, ids: np.ndarray) -> bool:
        """Remove ``ids`` from the index; True if it was rebuilt from the store instead (then it
        already reflects the store's current rows, and callers must not add them again)."""
        try:
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
        except RuntimeError:  # e.g. HNSW: FAISS cannot delete; rebuild from the templates
            log.info("index %s cannot remove vectors; rebuilding it", self._factory)
            self.rebuild()
            return True
        return False

    def _rows_count(self) -> int:
        return len(self._store) if self._aggregation == "max" else len(self._idents)

    # -- storage primitives -------------------------------------------------------------------------
    def _ensure_store(self, dim: int) -> None:
        if self._store is None:
            self._probe_factory(dim)
            self._store = TemplateStore(dim)

    def _add(self, name: str, vectors: np.ndarray, metadata: dict[str, Any] | None) -> None:
        self._ensure_store(vectors.shape[1])
        iid = self._iid_of.get(name)
        if iid is None:
            iid = self._next_iid
            self._next_iid += 1
            self._iid_of[name] = iid
            self._idents[iid] = _Identity(name, metadata or {}, 0)
        e = self._idents[iid]
        if metadata is not None:
            e.metadata = metadata
        tids = self._store.append(vectors, iid)
        e.count += len(vectors)
        if self._max_count is not None:
            self._max_count = max(self._max_count, e.count)
        if self._aggregation == "max":
            self._index_add(vectors, tids)
        else:
            if e.count > len(vectors) and self._index_remove(np.array([iid])):  # existing identity: its mean row changes
                return  # rebuilt (HNSW): the new mean row is already in
            self._index_add(self._means(np.array([iid])), np.array([iid], dtype=np.int64))

    def _add_many(self, names: list[str], vectors: np.ndarray) -> None:
        # One store append and one index add for the whole batch (not one per identity).
        self._ensure_store(vectors.shape[1])
        owners = np.empty(len(names), dtype=np.int64)
        for i, name in enumerate(names):
            iid = self._iid_of.get(name)
            if iid is None:
                iid = self._iid_of[name] = self._next_iid
                self._next_iid += 1
                self._idents[iid] = _Identity(name, {}, 0)
            owners[i] = iid
        touched, counts = np.unique(owners, return_counts=True)
        existed = []
        for iid, n in zip(touched.tolist(), counts.tolist()):
            e = self._idents[iid]
            if e.count:
                existed.append(iid)
            e.count += n
        self._max_count = None
        tids = self._store.append(vectors, owners)
        if self._aggregation == "max":
            self._index_add(vectors, tids)
        else:
            if existed and self._index is not None and self._index_remove(np.asarray(existed, dtype=np.int64)):
                return  # rebuilt (HNSW): every touched identity's new mean row is already in
            means = self._means(touched)
            self._index_add(means, touched.astype(np.int64))

    def _replace(self, name: str, vectors: np.ndarray, metadata: dict[str, Any]) -> None:
        # Inputs were already embedded and checked, so this cannot fail half-way on bad input.
        self._remove(name)
        self._add(name, vectors, metadata)

    def _remove(self, name: str) -> None:
        iid = self._iid_of.pop(name)
        del self._idents[iid]  # first: an index rebuild below must not see this identity
        tids = self._store.remove_owner(iid)
        self._index_remove(tids if self._aggregation == "max" else np.array([iid], dtype=np.int64))
        self._max_count = None

    def _search_rows(self, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        ivf = faiss.try_extract_index_ivf(self._index)
        if ivf is not None:
            ivf.nprobe = self._nprobe
        hnsw = _find_hnsw(self._index)
        if hnsw is not None:  # the beam must hold at least the k neighbours asked for
            hnsw.hnsw.efSearch = max(self._ef_search, k)
        rescore = (self._aggregation == "max" and self._trained_as_configured
                   and not _EXACT_SCORES.fullmatch(self._factory))
        kk = min(k * RERANK_FACTOR, self._index.ntotal) if rescore else k  # lossy: re-rank a wider net
        apply_blas_threshold()
        scores, ids = self._index.search(np.ascontiguousarray(q, dtype=np.float32), kk)
        if rescore:
            scores, ids = (a[:, :k] for a in self._rescore(q, ids))
        owners = self._store.owners_of(ids) if self._aggregation == "max" else ids
        out = []
        for srow, orow in zip(scores.tolist(), owners.tolist()):
            out.append([(self._idents[o].name, s) for s, o in zip(srow, orow) if o >= 0])
        return out

    def _rescore(self, q: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosine scores (from the stored templates) for the candidates a lossy index
        (PQ, SQ, ...) returned, re-sorted: thresholds then mean what they mean for Flat."""
        valid = ids >= 0
        pos = np.clip(np.searchsorted(self._store.ids, np.where(valid, ids, 0)), 0, len(self._store) - 1)
        exact = np.einsum("mkd,md->mk", self._store.vectors[pos], q)  # (M, k)
        exact = np.where(valid, exact, -np.inf).astype(np.float32)
        order = np.argsort(-exact, axis=1, kind="stable")
        return np.take_along_axis(exact, order, 1), np.take_along_axis(np.where(valid, ids, -1), order, 1)

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write the gallery to ``directory`` atomically (see :mod:`.storage`): a crash at any
        point leaves the previously saved gallery loadable. Returns the version folder."""
        return save_version(directory, self._write)

    def _write(self, folder: Path) -> None:
        files: dict[str, dict[str, Any]] = {}
        if self._store is not None:
            np.save(folder / _FILES["vectors"], self._store.vectors, allow_pickle=False)
            np.save(folder / _FILES["ids"], self._store.ids, allow_pickle=False)
            np.save(folder / _FILES["owners"], self._store.owners, allow_pickle=False)
            if self._index is not None:
                faiss.write_index(self._index, str(folder / _FILES["index"]))
        for p in sorted(folder.iterdir()):
            files[p.name] = {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
        meta = {
            "format": FORMAT, "version": FORMAT_VERSION, "model_id": self._model_id, "model_name": self.model_name,
            "detector": self._detector_name, "dim": self._dim,
            "aggregation": self._aggregation, "threshold": self._threshold, "index": self._factory,
            "index_trained": self._trained_as_configured, "nprobe": self._nprobe, "ef_search": self._ef_search,
            "train_size": self._train_size_opt, "next_template_id": 0 if self._store is None else self._store.next_id,
            "next_identity_id": self._next_iid, "num_templates": self.num_templates,
            "identities": [{"id": iid, "name": e.name, "num_templates": e.count, "metadata": e.metadata}
                           for iid, e in self._idents.items()],
            "files": files,
        }
        # Names live here, as JSON data: a name is never part of a path.
        with open(folder / _META, "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, directory: str | os.PathLike, recognizer: "FaceRecognizer | None" = None, *,
             threshold: float | None = None) -> "Gallery":
        """Load the current version saved in ``directory``.

        :class:`ModelError` if ``recognizer``'s model (fingerprint or dimension) is not the one
        recorded; :class:`GalleryError` if the files are missing, corrupt or inconsistent.
        ``threshold`` overrides the saved one.
        """
        directory = Path(directory)
        for attempt in range(_LOAD_ATTEMPTS):
            pointer = _read_pointer(directory)
            try:
                return cls._load_current(directory, recognizer, threshold)
            except GalleryError:
                # A concurrent save may have switched CURRENT and deleted the version this load
                # was reading: read the new one. A real corruption fails again with CURRENT unmoved.
                if attempt + 1 == _LOAD_ATTEMPTS or _read_pointer(directory) == pointer:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _load_current(cls, directory: Path, recognizer: "FaceRecognizer | None",
                      threshold: float | None) -> "Gallery":
        try:
            folder = current_version(directory)
        except FileNotFoundError as exc:
            raise GalleryError(str(exc)) from None
        if folder is None:
            raise GalleryError(f"{directory}: no saved gallery here")
        meta = _read_meta(folder)
        try:
            return cls._from_saved(folder, meta, recognizer, threshold)
        except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
            raise GalleryError(f"{folder}: inconsistent gallery: {exc}") from None

    @classmethod
    def _from_saved(cls, folder: Path, meta: dict[str, Any], recognizer: "FaceRecognizer | None",
                    threshold: float | None) -> "Gallery":
        for fname, info in meta["files"].items():
            p = folder / fname
            if not p.is_file() or p.stat().st_size != info["bytes"] or file_sha256(p) != info["sha256"]:
                raise GalleryError(f"{p}: missing or corrupt (size/sha256 differ from {_META})")
        g = cls(None, dim=meta["dim"], model_id=meta["model_id"], model_name=meta.get("model_name"),
                detector_name=meta.get("detector"), aggregation=meta["aggregation"],
                threshold=meta["threshold"] if threshold is None else threshold, index=meta["index"],
                nprobe=meta["nprobe"], ef_search=meta["ef_search"], train_size=meta["train_size"])
        idents = meta["identities"]
        for rec in idents:
            name = validate_identity(rec["name"])
            if name in g._iid_of:
                raise ValueError(f"identity {name!r} listed twice")
            g._iid_of[name] = int(rec["id"])
            g._idents[int(rec["id"])] = _Identity(name, check_metadata(rec["metadata"]), int(rec["num_templates"]))
        g._next_iid = int(meta["next_identity_id"])
        if _FILES["vectors"] in meta["files"]:
            arrays = {k: np.load(folder / _FILES[k], allow_pickle=False) for k in ("vectors", "ids", "owners")}
            g._store = TemplateStore.from_arrays(arrays["vectors"], arrays["ids"], arrays["owners"],
                                                 meta["next_template_id"])
            if g._store.dim != g._dim or len(g._store) != meta["num_templates"]:
                raise ValueError("template matrix does not match the recorded dimension / count")
            counts = np.bincount(g._store.owners, minlength=g._next_iid) if len(g._store) else np.zeros(g._next_iid)
            for iid, e in g._idents.items():
                if counts[iid] != e.count:
                    raise ValueError(f"identity {e.name!r}: {counts[iid]} stored templates, {e.count} recorded")
            if counts.sum() != len(g._store):
                raise ValueError("templates owned by unknown identities")
            if _FILES["index"] in meta["files"]:
                g._index = faiss.read_index(str(folder / _FILES["index"]))
                g._trained_as_configured = bool(meta["index_trained"])
                if g._index.ntotal != g._rows_count() or g._index.d != g._dim:
                    raise ValueError(f"index holds {g._index.ntotal} vectors of d={g._index.d}, "
                                     f"expected {g._rows_count()} of d={g._dim}")
        elif idents:
            raise ValueError("identities recorded but no templates saved")
        g._max_count = None
        if recognizer is not None:
            g.attach(recognizer)  # ModelError on a fingerprint / dimension mismatch
        return g


def _read_meta(folder: Path) -> dict[str, Any]:
    """A saved version's metadata (``gallery.json``), checked to be a facerec gallery's this
    facerec can read; :class:`GalleryError` otherwise."""
    try:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GalleryError(f"{folder}: unreadable {_META}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GalleryError(f"{folder}: not a facerec gallery")
    if int(meta.get("version", -1)) > FORMAT_VERSION:
        raise GalleryError(f"{folder}: gallery format {meta.get('version')} is newer than this facerec supports")
    return meta


def gallery_model(directory: str | os.PathLike) -> str | None:
    """The registry name of the model that built the gallery saved in ``directory`` (read from
    its metadata, nothing else loaded); None when nothing is saved there yet. A gallery built
    with a model that has no name (``--weights``) raises :class:`ModelError` saying so."""
    from facerec.models import model_name_of

    try:
        folder = current_version(directory)
    except FileNotFoundError as exc:
        raise GalleryError(str(exc)) from None
    if folder is None:
        return None
    meta = _read_meta(folder)
    name = model_name_of(meta.get("model_id"), meta.get("model_name"))
    if name is None and meta.get("model_id") is not None:
        raise ModelError(f"{directory}: built with model {meta.get('model_id')}, which is not a named model: "
                         "pass --weights with that model's file")
    return name


def _read_pointer(directory: Path) -> str | None:
    """The raw contents of ``CURRENT`` (None if unreadable): to notice a concurrent save."""
    try:
        return (directory / POINTER).read_text(encoding="utf-8")
    except OSError:
        return None


def _find_hnsw(index: faiss.Index) -> Any:
    """The IndexHNSW inside ``index`` (possibly wrapped in IndexIDMap2), or None."""
    idx = faiss.downcast_index(index)
    if isinstance(idx, (faiss.IndexIDMap2, faiss.IndexIDMap)):
        idx = faiss.downcast_index(idx.index)
    return idx if hasattr(idx, "hnsw") else None


__all__ = ["Gallery", "GalleryError", "ModelError"]


def gallery_detector(directory: str | os.PathLike) -> str | None:
    """The named detector recorded by the gallery saved in ``directory`` (None: nothing saved
    yet, or a gallery saved before detectors were recorded)."""
    try:
        folder = current_version(directory)
    except FileNotFoundError as exc:
        raise GalleryError(str(exc)) from None
    return None if folder is None else _read_meta(folder).get("detector")
