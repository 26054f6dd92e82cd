"""Atomic file writes: THE one durability rule for every file facerec and its pipelines save.

The rule: write to a uniquely named temporary file in the target's folder, flush and
``fsync`` it, ``os.replace`` it over the target (atomic on POSIX), then ``fsync`` the folder
so the rename itself survives a power loss. A crash at any point leaves either the old file
or the complete new one, never a truncated one; a failed write removes its temporary file.

    with atomic_write(path, "w") as f:      # writers that take a file object
        f.write(text)
    with atomic_path(path) as tmp:          # writers that insist on a file name (ONNX, PIL)
        img.save(tmp, format="PNG")
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator


def fsync_file(path: str | os.PathLike) -> None:
    """Flush one file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (new names, renames) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on a clean exit it is fsynced and
    renamed over ``path`` (then the folder is fsynced). The parent folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp: unique even for two threads of one process saving the same file.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (``mode`` ``"wb"`` or ``"w"``); on a clean exit
    it replaces ``path`` under the rule above. Text mode defaults to UTF-8."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes whole files: mode 'wb' or 'w', not {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)
