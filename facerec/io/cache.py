"""THE cache of computed per-item results (detections, embeddings), and where caches live.

Every cache facerec's pipelines keep — evaluation detections and embeddings, clustering's
faces per photo, training's teacher embeddings — is an :class:`ArrayCache`:

* an entry's key is its **content**: the sha256 of a file's bytes (:func:`file_key`) or of a
  decoded array (:func:`content_key`), so a renamed or copied file hits and an edited one misses;
* the file holding the entries is named by a hash of **everything else that changes the
  output** (``settings``: model fingerprint, runtime and precision, input spec — crop size,
  mean/std, colour order —, detector name and settings, flip, …; :func:`embedder_settings`,
  :func:`detector_settings`) and of the entries' fields: other settings, another file;
* the file carries a **format version** (:data:`CACHE_FORMAT`, SQLite's ``user_version``),
  checked on open: a file of an older format is cleared and rebuilt, one of a newer format
  is left alone and not used (a warning says so; the run computes in memory).

Storage: one SQLite database per (name, settings) — ``<folder>/<name>-<hash>.sqlite``, in WAL
mode — holding ``entries(key, n, data)`` (``data``: the fields' raw bytes in declared order)
and ``meta`` (the settings as JSON, for people reading the file). SQLite makes writes atomic
(a transaction commits whole or not at all), readers never see a torn entry, and several
processes may fill one cache at once: each :meth:`ArrayCache.flush` is one write transaction,
serialised by SQLite's lock, so every writer's entries land.

Roots: ``cache_root()`` is ``$FACEREC_CACHE_DIR``, else ``~/.cache/facerec``; evaluation
entries live in ``<root>/embeddings``, teacher embeddings in ``<root>/teacher``.
``models_dir()`` is ``$FACEREC_MODELS_DIR``, else ``<root>/models``: the named models that
setup fetched (``facerec models fetch NAME``); nothing is downloaded at run time.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from facerec.io.checksum import file_sha256

log = logging.getLogger(__name__)

CACHE_ENV = "FACEREC_CACHE_DIR"
MODELS_ENV = "FACEREC_MODELS_DIR"
#: The layout of a cache file (tables, encoding of entries). Bump on any change: older files
#: are then cleared on open, and this facerec refuses the files of a newer one.
CACHE_FORMAT = 1
SUFFIX = ".sqlite"
#: Buffered entries written by :meth:`ArrayCache.put` before it flushes on its own.
AUTO_FLUSH = 4096
#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 120.0

#: A field: the shape of one entry's array and its dtype. A leading ``-1`` means "any number
#: of rows per entry" (the same number for all such fields of an entry, e.g. a photo's faces).
Field = tuple[tuple[int, ...], str]


def cache_root() -> Path:
    """``$FACEREC_CACHE_DIR`` if set and non-empty, else ``~/.cache/facerec``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "facerec"


def cache_dir(kind: str) -> Path:
    """The sub-folder of :func:`cache_root` for one kind of cached result (not created)."""
    return cache_root() / kind


def models_dir() -> Path:
    """``$FACEREC_MODELS_DIR`` if set and non-empty, else ``<cache root>/models``."""
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else cache_root() / "models"


# -- keys -------------------------------------------------------------------------------------
def settings_hash(settings: Any) -> str:
    """16 hex digits identifying a JSON-able settings object (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_key(path: str | os.PathLike) -> str:
    """Content key of a file: the hex sha256 of its bytes (the same under any path)."""
    return file_sha256(path)


def content_key(data: bytes | np.ndarray) -> str:
    """Content key of bytes, or of an array's values together with its shape and dtype."""
    h = hashlib.sha256()
    if isinstance(data, np.ndarray):
        h.update(f"{data.dtype.str}{data.shape}".encode())
        data = np.ascontiguousarray(data).tobytes()
    h.update(data)
    return h.hexdigest()


def embedder_settings(embedder: Any) -> dict[str, Any]:
    """What of an embedder changes its embeddings: weights (fingerprint), input spec (crop
    template = size, mean/std, colour order), runtime and precision. The runtime counts: torch
    and ONNX agree to ~1e-5, not bit for bit."""
    pre = embedder.preprocessing
    return {"fingerprint": embedder.fingerprint(), "preprocessing": pre.to_dict(),
            "color": str(getattr(pre, "color", "rgb")),
            "runtime": str(getattr(embedder, "runtime", type(embedder).__name__)),
            "precision": str(getattr(embedder, "precision", "fp32"))}


def detector_settings(detector: Any) -> dict[str, Any] | None:
    """What of a detector changes its detections: its settings' type and values (a
    :class:`~facerec.detection.bounded.DetectorSettings`: registry name, copy size rule, the network's own
    settings), or None when its settings cannot be named (then nothing of it may be cached)."""
    cfg = getattr(detector, "config", None)
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        return None
    return {"kind": type(cfg).__name__, "config": dataclasses.asdict(cfg)}


# -- the store --------------------------------------------------------------------------------
class ArrayCache:
    """Entries of named arrays keyed by content, in ``<folder>/<name>-<hash>.sqlite``.

    ``fields``: name → (shape, dtype) (see :data:`Field`). ``settings``: everything besides
    the key that changes the entries (hashed into the file name, kept in the file).
    ``folder=None`` or ``settings=None`` keeps everything in memory. :meth:`put` buffers;
    :meth:`flush` writes the buffer in one transaction (call it at checkpoints and at the end).
    """

    def __init__(self, folder: str | os.PathLike | None, name: str, settings: Mapping[str, Any] | None,
                 fields: Mapping[str, Field]) -> None:
        self.fields = {k: (tuple(int(d) for d in s), np.dtype(t)) for k, (s, t) in fields.items()}
        for k, (shape, _) in self.fields.items():
            if -1 in shape[1:]:
                raise ValueError(f"field {k}: only the first dimension may be -1, got {shape}")
        self._ragged = [k for k, (s, _) in self.fields.items() if s[:1] == (-1,)]
        self._pending: dict[str, tuple[int, dict[str, np.ndarray]]] = {}  # key → (rows n, arrays)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self.path: Path | None = None
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None and settings is not None:
            described = {"settings": settings, "fields": {k: [list(s), t.str] for k, (s, t) in self.fields.items()}}
            self._meta = json.dumps(described, sort_keys=True, default=str)
            self.path = self.folder / f"{name}-{settings_hash(described)}{SUFFIX}"
            self._db = self._open()

    # -- opening ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            con.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash may lose the last commits, never corrupt
            con.execute("BEGIN IMMEDIATE")
            try:
                self._prepare(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except BaseException:
            con.close()
            raise
        return con

    def _prepare(self, con: sqlite3.Connection) -> None:
        """Inside the open's write transaction: create, check or migrate the file."""
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > CACHE_FORMAT:
            raise _NewerFormat(version)
        if version and version < CACHE_FORMAT:  # an older layout: a cache, so rebuilt, not converted
            log.warning("cache %s: format %d is older than this facerec's %d: cleared and rebuilt",
                        self.path, version, CACHE_FORMAT)
            con.execute("DROP TABLE IF EXISTS entries")
            con.execute("DROP TABLE IF EXISTS meta")
        if version != CACHE_FORMAT:
            con.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, n INTEGER NOT NULL, data BLOB NOT NULL)"
                        " WITHOUT ROWID")
            con.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            con.execute("INSERT INTO meta VALUES ('described', ?)", (self._meta,))
            con.execute(f"PRAGMA user_version = {CACHE_FORMAT}")
            return
        row = con.execute("SELECT v FROM meta WHERE k = 'described'").fetchone()
        if row is None or row[0] != self._meta:
            raise sqlite3.DatabaseError("its settings are not the ones its name stands for")

    def _open(self) -> sqlite3.Connection | None:
        try:
            return self._connect()
        except _NewerFormat as exc:
            log.warning("cache %s was written by a newer facerec (cache format %d; this one reads %d): not used, "
                        "results are computed in memory. Upgrade facerec, or point it at another cache folder.",
                        self.path, exc.version, CACHE_FORMAT)
        except sqlite3.OperationalError as exc:  # locked past the timeout, read-only folder, disk full...
            log.warning("cache %s cannot be opened (%s): results are computed in memory", self.path, exc)
        except sqlite3.DatabaseError as exc:  # not a database, damaged, or foreign: set aside, start afresh
            assert self.path is not None
            aside = self.path.with_name(f"{self.path.name}.unreadable-{os.getpid()}")
            log.warning("cache %s is unreadable (%s): moved to %s, rebuilding", self.path, exc, aside.name)
            try:
                for suffix in ("", "-wal", "-shm"):
                    if Path(f"{self.path}{suffix}").exists():
                        os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
                return self._connect()
            except (OSError, sqlite3.Error) as again:
                log.warning("cache %s: %s; results are computed in memory", self.path, again)
        except (OSError, sqlite3.Error) as exc:  # e.g. a folder that cannot be created: the run still works
            log.warning("cache %s cannot be opened (%s): results are computed in memory", self.path, exc)
        return None

    @property
    def on_disk(self) -> bool:
        """Whether entries are kept in a file (False: in memory only)."""
        return self._db is not None

    def files_dir(self) -> Path:
        """A folder beside the database for files that belong to entries (:meth:`file_for`)."""
        if self.path is None:
            raise ValueError("an in-memory cache has no folder for files")
        return self.path.with_suffix(".files")

    def file_for(self, key: str, suffix: str) -> Path:
        """Where a file belonging to entry ``key`` lives (e.g. a thumbnail); not created."""
        return self.files_dir() / key[:2] / f"{key}{suffix}"

    # -- entries ------------------------------------------------------------------------------
    def _encode(self, values: Mapping[str, Any]) -> tuple[int, dict[str, np.ndarray]]:
        if set(values) != set(self.fields):
            raise ValueError(f"expected fields {sorted(self.fields)}, got {sorted(values)}")
        row, n = {}, None
        for name, (shape, dtype) in self.fields.items():
            v = np.asarray(values[name], dtype=dtype)
            if name in self._ragged:
                n = v.shape[0] if n is None and v.ndim else n
                want = (n, *shape[1:])
            else:
                want = shape
            if v.shape != want:
                raise ValueError(f"field {name}: shape {v.shape}, expected {want}")
            row[name] = v
        return n or 0, row

    def _decode(self, n: int, data: bytes) -> dict[str, np.ndarray]:
        out, at = {}, 0
        for name, (shape, dtype) in self.fields.items():
            full = (n, *shape[1:]) if name in self._ragged else shape
            size = int(np.prod(full, dtype=np.int64)) * dtype.itemsize
            out[name] = np.frombuffer(data, dtype, int(np.prod(full, dtype=np.int64)), at).reshape(full)
            at += size
        if at != len(data):
            raise ValueError(f"entry of {len(data)} bytes, expected {at}")
        return out

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The entry's arrays (read-only views), or None."""
        with self._lock:
            if key in self._pending:
                return self._pending[key][1]
            if self._db is None:
                return None
            row = self._db.execute("SELECT n, data FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return self._decode(int(row[0]), bytes(row[1]))
        except ValueError as exc:  # cannot happen short of damage: recompute that entry
            log.warning("cache %s: entry %s unusable (%s)", self.path, key[:16], exc)
            return None

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._pending:
                return True
            return self._db is not None and self._db.execute(
                "SELECT 1 FROM entries WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            if self._db is None:
                return len(self._pending)
            stored = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            return stored + sum(1 for k in self._pending if self._db.execute(
                "SELECT 1 FROM entries WHERE key = ?", (k,)).fetchone() is None)

    def put(self, key: str, **values: Any) -> None:
        """Add (or replace) an entry; written at the next :meth:`flush`."""
        entry = self._encode(values)
        with self._lock:
            self._pending[key] = entry
            if self._db is not None and len(self._pending) >= AUTO_FLUSH:
                self.flush()

    @property
    def dirty(self) -> int:
        """Entries added and not yet written (in memory: all of them)."""
        return len(self._pending)

    def flush(self) -> None:
        """Write the buffered entries in one transaction (no-op in memory or with none)."""
        with self._lock:
            if self._db is None or not self._pending:
                return
            rows = [(k, n, b"".join(np.ascontiguousarray(a).tobytes() for a in v.values()))
                    for k, (n, v) in self._pending.items()]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._pending.clear()

    def close(self) -> None:
        """Flush and close the database (the object then keeps working in memory)."""
        with self._lock:
            if self._db is not None:
                self.flush()
                self._db.close()
                self._db = None

    def __enter__(self) -> "ArrayCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NewerFormat(Exception):
    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def remove_caches(folder: str | os.PathLike, name_prefix: str) -> int:
    """Delete the caches in ``folder`` whose name starts with ``name_prefix`` (with their
    WAL files and file folders). Returns the number of caches removed."""
    import shutil

    dbs = list(Path(folder).glob(f"{name_prefix}*{SUFFIX}"))
    for db in dbs:
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(db.with_suffix(".files"), ignore_errors=True)
        db.unlink(missing_ok=True)
    return len(dbs)
