"""insightface ``.bin`` verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin, ...), read safely.

A ``.bin`` is a pickle of ``(bins, issame)``: ``bins`` a list of ``2·N`` encoded images
(JPEG/PNG bytes of 112×112 faces already aligned to the ArcFace template), ``issame`` a list of
``N`` bools; pair ``i`` is images ``2i`` and ``2i+1``. insightface splits the pairs into 10
contiguous folds.

Unpickling untrusted data can run arbitrary code, so this reader (1) checks every opcode
against an allowlist of the few a ``.bin`` needs (containers, bytes, bools, memo), (2)
unpickles with a ``find_class`` that refuses every global and no persistent ids, and (3)
checks the result is exactly a tuple/list of (list of bytes, list of bools).
"""
from __future__ import annotations

import io
import os
import pickle
import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from facerec.io.atomic import atomic_write

# What a .bin written by Python 2 or 3 contains; nothing here can name or call an object.
_ALLOWED_OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK",
    "EMPTY_LIST", "LIST", "APPEND", "APPENDS", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
    "STRING", "BINSTRING", "SHORT_BINSTRING",  # Python 2 str (= bytes with encoding="bytes")
    "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2",  # bools (protocols 0-1 spell them INT)
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
})


class BinFormatError(ValueError):
    """The file is not a valid (or not a safe) insightface ``.bin`` set."""


class _RefusingUnpickler(pickle.Unpickler):
    """An unpickler that can build only built-in containers and scalars."""

    def find_class(self, module: str, name: str):  # noqa: D102
        raise pickle.UnpicklingError(f"global {module}.{name} refused: a .bin holds only bytes and bools")

    def persistent_load(self, pid):  # noqa: D102
        raise pickle.UnpicklingError("persistent ids refused in a .bin")


def _check_opcodes(data: bytes) -> None:
    try:
        for op, arg, pos in pickletools.genops(data):
            if op.name not in _ALLOWED_OPCODES:
                hint = ""
                if op.name == "GLOBAL" and str(arg).startswith("_codecs encode"):
                    # Python 3 pickles bytes with protocol < 3 as a call to _codecs.encode.
                    hint = " (bytes pickled by Python 3 with protocol < 3: re-save with protocol >= 3)"
                raise BinFormatError(f"pickle opcode {op.name} at byte {pos} is not allowed in a .bin{hint}")
    except BinFormatError:
        raise
    except Exception as exc:  # truncated / not a pickle
        raise BinFormatError(f"not a pickle ({type(exc).__name__}: {exc})") from None


def _restricted_loads(data: bytes) -> object:
    try:
        return _RefusingUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:
        raise BinFormatError(f"cannot unpickle ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class BinSet:
    """A verification set: ``images`` (2N encoded images) and ``issame`` (N,) bool."""

    images: list[bytes]
    issame: np.ndarray

    def __len__(self) -> int:
        return int(self.issame.size)

    def folds(self, n_folds: int = 10) -> np.ndarray:
        """(N,) fold id per pair: ``n_folds`` contiguous blocks (insightface's KFold, no shuffle)."""
        return np.minimum(np.arange(len(self)) * n_folds // len(self), n_folds - 1)


def loads_bin(data: bytes, source: str = ".bin") -> BinSet:
    """Parse the bytes of a ``.bin`` set (see module docstring for the checks)."""
    _check_opcodes(data)
    obj = _restricted_loads(data)
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise BinFormatError(f"{source}: expected a pair (images, issame), got {type(obj).__name__}")
    images, issame = obj
    if not isinstance(images, list) or not all(isinstance(b, (bytes, bytearray)) for b in images):
        raise BinFormatError(f"{source}: the first element must be a list of encoded images (bytes)")
    if not isinstance(issame, list) or not all(isinstance(v, bool) for v in issame):
        raise BinFormatError(f"{source}: the second element must be a list of bools")
    if len(images) != 2 * len(issame) or not issame:
        raise BinFormatError(f"{source}: {len(images)} images for {len(issame)} pairs (need exactly 2 per pair)")
    return BinSet([bytes(b) for b in images], np.array(issame, dtype=bool))


def load_bin(path: str | os.PathLike) -> BinSet:
    """Read an insightface ``.bin`` verification set without executing any code in it."""
    return loads_bin(Path(path).read_bytes(), source=str(path))


def save_bin(path: str | os.PathLike, images: Sequence[bytes], issame: Sequence[bool]) -> None:
    """Write ``(list of bytes, list of bools)`` in insightface's layout (atomically)."""
    if len(images) != 2 * len(issame):
        raise ValueError("need exactly 2 images per pair")
    with atomic_write(path) as f:
        pickle.dump(([bytes(b) for b in images], [bool(v) for v in issame]), f, protocol=4)
