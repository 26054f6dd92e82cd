"""The same gallery interface on Milvus: an embedded milvus-lite file, or a server URI.

>>> g = MilvusGallery("people.db", recognizer=rec)                 # doctest: +SKIP  (milvus-lite)
>>> g = MilvusGallery("http://milvus:19530", token="...")          # doctest: +SKIP  (a server)

One collection holds three kinds of rows (field ``kind``)::

    0  template   identity, unit vector
    1  identity   identity, metadata + template count, normalised mean template
    2  header     gallery metadata (model fingerprint, dimension, aggregation), one row

so the collection alone describes the gallery: reconnecting needs no local state. Search
filters on ``kind`` (templates for "max" aggregation, identity rows for "mean"); the
default index is exact ``FLAT`` with inner product, so results equal the FAISS gallery's.

Milvus has no multi-row transactions: writes insert the new rows before deleting the
old ones, so an interrupted ``enroll``/``update`` can leave duplicate rows of one identity
(never none); running ``update`` for that identity again repairs it.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from facerec.errors import ModelError
from facerec.similarity import l2_normalize
from facerec.gallery.base import Aggregation, GalleryBase, GalleryError, IdentityInfo

if TYPE_CHECKING:
    from facerec.recognizer import FaceRecognizer

log = logging.getLogger(__name__)

TEMPLATE, IDENTITY, HEADER = 0, 1, 2
FORMAT = "facerec.gallery.milvus"
FORMAT_VERSION = 1
#: Milvus refuses a search ``limit`` (top-k) above this.
MAX_TOPK = 16384
_NAME_BYTES = 1024  # names are ≤ 256 characters (names.MAX_NAME_LENGTH) of ≤ 4 UTF-8 bytes


def _quote(text: str) -> str:
    """A Milvus filter string literal. JSON's escaping (``\\"``, ``\\\\``) is what Milvus's
    expression parser reads; names are data, so they are never pasted in unescaped."""
    return json.dumps(text, ensure_ascii=False)


class MilvusGallery(GalleryBase):
    """Identity gallery stored in a Milvus collection; see the module docstring.

    ``uri``: a local file path (embedded milvus-lite) or ``http://host:19530``; ``token``:
    server credentials. Reopening an existing collection takes its dimension, model id and
    aggregation from the collection (arguments that contradict them raise). ``index_type`` / ``index_params`` / ``search_params``: the Milvus
    index on the vector field (default exact ``FLAT``), always with metric ``IP``.
    """

    _max_neighbours = MAX_TOPK

    def __init__(self, uri: str, collection: str = "facerec_gallery", recognizer: "FaceRecognizer | None" = None, *,
                 dim: int | None = None, model_id: str | None = None, aggregation: Aggregation | None = None,
                 threshold: float | None = None, token: str = "", index_type: str = "FLAT",
                 index_params: dict[str, Any] | None = None, search_params: dict[str, Any] | None = None) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # optional dependency
            raise GalleryError(f"MilvusGallery needs pymilvus (pip install pymilvus milvus-lite): {exc}") from None
        self._client = MilvusClient(uri=str(uri), token=token)
        self._collection = collection
        self._index_type = index_type
        self._index_params = dict(index_params or {})
        self._search_params = dict(search_params or {})
        self._ready = False
        header = self._read_header()
        if header is not None:
            if model_id is not None and header["model_id"] is not None and model_id != header["model_id"]:
                raise ModelError(f"collection {collection!r} holds embeddings of model {header['model_id']}, "
                                 f"not {model_id}")
            if dim is not None and int(dim) != header["dim"]:
                raise ModelError(f"collection {collection!r} holds {header['dim']}-d embeddings, not {dim}-d")
            if aggregation is not None and aggregation != header["aggregation"]:
                raise ValueError(f"collection {collection!r} was created with aggregation "
                                 f"{header['aggregation']!r}, not {aggregation!r}")
            dim, model_id, aggregation, self._ready = header["dim"], header["model_id"], header["aggregation"], True
        super().__init__(recognizer, dim=dim, model_id=model_id, aggregation=aggregation or "max", threshold=threshold,
                         model_name=header.get("model_name") if header else None)

    # -- collection -------------------------------------------------------------------------------
    def _read_header(self) -> dict[str, Any] | None:
        if not self._client.has_collection(self._collection):
            return None
        rows = self._client.query(self._collection, filter=f"kind == {HEADER}", output_fields=["meta"], limit=1)
        if not rows or rows[0]["meta"].get("format") != FORMAT:
            raise GalleryError(f"Milvus collection {self._collection!r} exists but is not a facerec gallery")
        if int(rows[0]["meta"].get("version", -1)) > FORMAT_VERSION:
            raise GalleryError(f"Milvus collection {self._collection!r}: gallery format {rows[0]['meta'].get('version')} "
                               "is newer than this facerec supports")
        return rows[0]["meta"]

    def _ensure_collection(self) -> None:
        """Create the collection (and its header row) on the first write, when the dimension is known."""
        if self._ready:
            return
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("kind", DataType.INT8)
        schema.add_field("identity", DataType.VARCHAR, max_length=_NAME_BYTES)
        schema.add_field("meta", DataType.JSON)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dim)
        index = self._client.prepare_index_params()
        index.add_index(field_name="vector", index_type=self._index_type, metric_type="IP", params=self._index_params)
        self._client.create_collection(self._collection, schema=schema, index_params=index, consistency_level="Strong")
        self._write_header()

    def check_model(self, model_id: str | None, dim: int | None, what: str = "the embeddings") -> None:
        recorded = self._model_id
        super().check_model(model_id, dim, what)
        if self._ready and recorded is None and self._model_id is not None:
            # The header is written once; a model id learnt later is recorded by rewriting it.
            self._client.delete(self._collection, filter=f"kind == {HEADER}")
            self._write_header()

    def _write_header(self) -> None:
        header = {"format": FORMAT, "version": FORMAT_VERSION, "model_id": self._model_id,
                  "model_name": self.model_name, "dim": self._dim, "aggregation": self._aggregation}
        unit = np.zeros(self._dim, np.float32)
        unit[0] = 1.0  # a valid vector; header rows are filtered out of every search
        self._client.insert(self._collection, [{"kind": HEADER, "identity": "", "meta": header, "vector": unit}])
        self._ready = True

    def _query_all(self, filter: str, fields: list[str]) -> Iterable[dict[str, Any]]:
        """Every row matching ``filter``, paged by primary key (a query returns at most 16 384
        rows). Milvus returns query rows in primary-key order — pymilvus's own query iterator
        pages the same way — but each page is sorted again here rather than trusted."""
        if not self._ready:
            return
        last = -1
        fields = sorted(set(fields) | {"id"})
        while True:
            page = self._client.query(self._collection, filter=f"({filter}) and id > {last}",
                                      output_fields=fields, limit=MAX_TOPK)
            page = sorted(page, key=lambda r: r["id"])
            yield from page
            if len(page) < MAX_TOPK:
                return
            last = int(page[-1]["id"])

    def _count(self, filter: str) -> int:
        if not self._ready:
            return 0
        res = self._client.query(self._collection, filter=filter, output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def _identity_row(self, name: str) -> dict[str, Any] | None:
        if not self._ready:
            return None
        rows = self._client.query(self._collection, filter=f"kind == {IDENTITY} and identity == {_quote(name)}",
                                  output_fields=["id", "meta"], limit=1)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the connection (milvus-lite: flushes the local file)."""
        self._client.close()

    def __enter__(self) -> "MilvusGallery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- storage primitives -------------------------------------------------------------------------
    def identities(self) -> list[str]:
        rows = sorted(self._query_all(f"kind == {IDENTITY}", ["id", "identity"]), key=lambda r: r["id"])
        return list(dict.fromkeys(r["identity"] for r in rows))  # enrollment order, duplicates folded

    def __len__(self) -> int:
        return self._count(f"kind == {IDENTITY}")

    def __contains__(self, identity: object) -> bool:
        return isinstance(identity, str) and self._identity_row(identity) is not None

    @property
    def num_templates(self) -> int:
        return self._count(f"kind == {TEMPLATE}")

    def _info(self, name: str) -> IdentityInfo:
        meta = self._identity_row(name)["meta"]
        return IdentityInfo(name, int(meta["num_templates"]), dict(meta["metadata"]))

    def _templates_of(self, name: str) -> tuple[list[int], np.ndarray]:
        rows = list(self._query_all(f"kind == {TEMPLATE} and identity == {_quote(name)}", ["id", "vector"]))
        vecs = np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, self._dim)
        return [int(r["id"]) for r in rows], vecs

    def _add(self, name: str, vectors: np.ndarray, metadata: dict[str, Any] | None) -> None:
        self._ensure_collection()
        row = self._identity_row(name)
        old_meta = {} if row is None else dict(row["meta"]["metadata"])
        _, existing = self._templates_of(name) if row is not None else ([], np.empty((0, self._dim), np.float32))
        self._insert(name, vectors, np.concatenate([existing, vectors]),
                     old_meta if metadata is None else metadata)
        if row is not None:  # the superseded identity row, after the new one exists
            self._client.delete(self._collection, ids=[int(row["id"])])

    def _add_many(self, names: list[str], vectors: np.ndarray) -> None:
        # Batched: one query for the existing identity rows, bulk inserts, one delete.
        self._ensure_collection()
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            groups.setdefault(n, []).append(i)
        existing: dict[str, dict[str, Any]] = {}
        keys = list(groups)
        for i in range(0, len(keys), 1000):
            chunk = ", ".join(_quote(n) for n in keys[i:i + 1000])
            for row in self._query_all(f"kind == {IDENTITY} and identity in [{chunk}]", ["identity", "meta"]):
                existing[row["identity"]] = row
        rows: list[dict[str, Any]] = []
        for name, idx in groups.items():
            new = vectors[idx]
            old = existing.get(name)
            every = np.concatenate([self._templates_of(name)[1], new]) if old else new
            meta = dict(old["meta"]["metadata"]) if old else {}
            rows.extend(self._rows_for(name, new, every, meta))
        for i in range(0, len(rows), 5000):
            self._client.insert(self._collection, rows[i:i + 5000])
        if existing:  # superseded identity rows, after their replacements exist
            self._client.delete(self._collection, ids=[int(r["id"]) for r in existing.values()])

    def _replace(self, name: str, vectors: np.ndarray, metadata: dict[str, Any]) -> None:
        old_ids, _ = self._templates_of(name)
        old_ids += [int(r["id"]) for r in self._query_all(
            f"kind == {IDENTITY} and identity == {_quote(name)}", ["id"])]
        self._insert(name, vectors, vectors, metadata)
        self._client.delete(self._collection, ids=old_ids)

    def _insert(self, name: str, new: np.ndarray, all_templates: np.ndarray, metadata: dict[str, Any]) -> None:
        self._client.insert(self._collection, self._rows_for(name, new, all_templates, metadata))

    @staticmethod
    def _rows_for(name: str, new: np.ndarray, all_templates: np.ndarray, metadata: dict[str, Any]) -> list[dict]:
        """Template rows for ``new`` plus the identity row (mean of ``all_templates``)."""
        mean = l2_normalize(all_templates.mean(0, dtype=np.float64))
        rows = [{"kind": TEMPLATE, "identity": name, "meta": {}, "vector": v} for v in new]
        rows.append({"kind": IDENTITY, "identity": name, "vector": mean,
                     "meta": {"metadata": metadata, "num_templates": len(all_templates)}})
        return rows

    def _remove(self, name: str) -> None:
        self._client.delete(self._collection, filter=f"kind != {HEADER} and identity == {_quote(name)}")

    def _search_rows(self, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        kind = TEMPLATE if self._aggregation == "max" else IDENTITY
        res = self._client.search(self._collection, data=[v for v in q], limit=min(k, MAX_TOPK),
                                  filter=f"kind == {kind}", output_fields=["identity"], anns_field="vector",
                                  search_params={"metric_type": "IP", "params": self._search_params})
        return [[(h["entity"]["identity"], float(h["distance"])) for h in hits] for hits in res]
