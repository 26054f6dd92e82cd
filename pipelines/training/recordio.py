"""Reader for insightface's ``train.rec`` / ``train.idx`` (MXNet RecordIO), without mxnet.

File layout (dmlc-core ``recordio``): each record is ``uint32 magic 0xced7230a``,
``uint32 lrec`` (upper 3 bits: continuation flag; lower 29 bits: length), the payload and zero
padding to a multiple of 4 bytes. A payload containing the magic word at a 4-byte aligned
position is split there into parts with flags 1 (first), 2 (middle), 3 (last); the reader
joins them with the magic word re-inserted. Flag 0 is a whole record.

``train.idx``: text lines ``key<TAB>offset`` (byte offset of the record's first part).

Payload (``mx.recordio.pack``): an ``IRHeader`` packed as ``<IfQQ`` (flag, label, id, id2),
then, if ``flag > 0``, ``flag`` float32 labels (the header's ``label`` field is then unused),
then the image bytes (JPEG/PNG).

insightface's layout: record 0 is a header whose labels ``(a, b)`` say images are keys
``1 … a−1`` and identity records are keys ``a … b−1``, each with labels ``(start, end)``:
the image keys of one identity. Image records carry the class id as label (or as the first
of several labels).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from .identities import Identity

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_IR_FORMAT = "<IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)  # 24
_LEN_MASK = (1 << 29) - 1


class IRHeader(NamedTuple):
    """flag: number of extra float labels; label: float, or the tuple of labels when flag > 0."""

    flag: int
    label: float | tuple[float, ...]
    id: int
    id2: int


def unpack(payload: bytes) -> tuple[IRHeader, bytes]:
    """Record payload → (header, image bytes), as ``mx.recordio.unpack``."""
    if len(payload) < _IR_SIZE:
        raise ValueError(f"record of {len(payload)} bytes is shorter than its {_IR_SIZE}-byte header")
    flag, label, id_, id2 = struct.unpack(_IR_FORMAT, payload[:_IR_SIZE])
    rest = payload[_IR_SIZE:]
    if flag > 0:
        labels = tuple(float(v) for v in np.frombuffer(rest[:4 * flag], dtype="<f4"))
        return IRHeader(flag, labels, id_, id2), rest[4 * flag:]
    return IRHeader(flag, float(label), id_, id2), rest


def read_idx(path: str | os.PathLike) -> dict[int, int]:
    """``key → offset`` from an ``.idx`` file."""
    out: dict[int, int] = {}
    with open(path, encoding="ascii") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    key, off = line.split("\t")
                    out[int(key)] = int(off)
                except ValueError:
                    raise ValueError(f"{path}:{n}: expected 'key<TAB>offset'") from None
    return out


def read_record(f: BinaryIO, offset: int) -> bytes:
    """The (re-joined) payload of the record starting at ``offset``."""
    f.seek(offset)
    parts: list[bytes] = []
    while True:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"truncated RecordIO file at offset {f.tell()}")
        magic, lrec = struct.unpack("<II", head)
        if magic != MAGIC:
            raise ValueError(f"bad RecordIO magic {magic:#x} at offset {f.tell() - 8} (expected {MAGIC:#x})")
        cflag, length = lrec >> 29, lrec & _LEN_MASK
        data = f.read((length + 3) & ~3)[:length]  # payload padded to 4 bytes
        if len(data) < length:
            raise ValueError(f"truncated RecordIO record at offset {offset}")
        parts.append(data)
        if cflag in (0, 3):
            return _MAGIC_BYTES.join(parts)
        # cflag 1 (first) or 2 (middle): more parts follow


@dataclass(frozen=True)
class RecordRef:
    """One image record: the ``.rec`` file and the record's byte offset."""

    rec: str
    offset: int


class RecordFile:
    """Random access to a ``.rec`` through its ``.idx``. Opens the file lazily (per process,
    so DataLoader workers each get their own handle)."""

    def __init__(self, rec: str | os.PathLike, idx: str | os.PathLike | None = None) -> None:
        self.rec = Path(rec)
        self.idx_path = Path(idx) if idx is not None else self.rec.with_suffix(".idx")
        for p in (self.rec, self.idx_path):
            if not p.is_file():
                raise FileNotFoundError(f"{p}: no such file")
        self.index = read_idx(self.idx_path)
        self._f: BinaryIO | None = None
        self._pid = -1

    def _file(self) -> BinaryIO:
        if self._f is None or self._pid != os.getpid():
            self._f, self._pid = open(self.rec, "rb"), os.getpid()
        return self._f

    def read(self, key: int) -> bytes:
        return read_record(self._file(), self.index[key])

    def header(self, key: int) -> IRHeader:
        return unpack(self.read(key))[0]

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


_HANDLES: dict[tuple[str, int], BinaryIO] = {}


def read_image_bytes(ref: RecordRef) -> bytes:
    """The image bytes of one record (``.rec`` files kept open, one handle per process)."""
    key = (ref.rec, os.getpid())
    f = _HANDLES.get(key)
    if f is None:
        f = _HANDLES[key] = open(ref.rec, "rb")
    return unpack(read_record(f, ref.offset))[1]


def _label(h: IRHeader) -> int:
    return int(h.label[0] if isinstance(h.label, tuple) else h.label)


def scan_recordio(root: str | os.PathLike, min_images: int = 1, max_identities: int = 0) -> list[Identity]:
    """Identities of ``root/train.rec`` (+ ``train.idx``), as :class:`~.data.Identity` whose
    ``files`` are :class:`RecordRef` s. Uses insightface's identity records when record 0
    announces them; otherwise reads every image header and groups by label."""
    root = Path(root)
    rec = RecordFile(root / "train.rec", root / "train.idx") if root.is_dir() else RecordFile(root)
    by_label: dict[int, list[int]] = {}
    h0 = rec.header(0) if 0 in rec.index else None
    if h0 is not None and h0.flag > 0 and isinstance(h0.label, tuple):
        first_id, end_id = int(h0.label[0]), int(h0.label[1])
        if end_id > first_id:  # identity records: (start, end) image keys per identity
            for k in range(first_id, end_id):
                h = rec.header(k)
                start, end = int(h.label[0]), int(h.label[1])
                by_label[k - first_id] = list(range(start, end))
        else:
            for k in range(1, first_id):
                by_label.setdefault(_label(rec.header(k)), []).append(k)
    else:
        for k in sorted(rec.index):
            by_label.setdefault(_label(rec.header(k)), []).append(k)
    out = []
    for lab in sorted(by_label):
        keys = by_label[lab]
        if len(keys) >= min_images:
            out.append(Identity(f"{lab:07d}", tuple(RecordRef(str(rec.rec), rec.index[k]) for k in keys)))
        if max_identities and len(out) >= max_identities:
            break
    rec.close()
    if not out:
        raise ValueError(f"{rec.rec}: no identity with >= {min_images} images")
    return out
