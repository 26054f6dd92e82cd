"""Crash-safe persistence of a folder of files: versioned sub-folders plus a pointer file.

Layout of a gallery folder::

    DIR/CURRENT          one line, e.g. "v000003": the version that is loaded
    DIR/v000003/...      the files of that version (written once, never modified)
    DIR/.lock            advisory lock held while saving (one writer at a time)

:func:`save_version` writes the new files into a hidden temporary folder, fsyncs every
file and the folder, renames it to ``vNNNNNN``, and only then replaces ``CURRENT`` with
``os.replace`` (atomic on POSIX) and fsyncs ``DIR``. A crash at any point before that
replace leaves ``CURRENT`` naming the previous, complete version; after it the new one is
complete. Older versions and abandoned temporary folders are deleted after the switch.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..atomic import atomic_write_text, fsync_dir, fsync_file

log = logging.getLogger(__name__)

POINTER = "CURRENT"
_VERSION_RE = re.compile(r"^v(\d{6,})$")
_TMP_PREFIX = ".tmp-"
#: Temporary files of :func:`facerec.atomic.atomic_write_text` replacing the pointer.
_POINTER_TMP_PREFIX = f".{POINTER}."


def current_version(root: str | os.PathLike) -> Path | None:
    """The folder ``CURRENT`` points to, or None if ``root`` holds no saved version."""
    root = Path(root)
    try:
        name = (root / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not _VERSION_RE.match(name) or not (root / name).is_dir():
        raise FileNotFoundError(f"{root}: {POINTER} names {name!r}, which is not a saved version")
    return root / name


def _versions(root: Path) -> list[tuple[int, Path]]:
    out = []
    for p in root.iterdir():
        m = _VERSION_RE.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def save_version(root: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a new version of ``root`` atomically and make it current.

    ``write(folder)`` creates the version's files inside the (empty) ``folder``; it may
    raise, in which case nothing visible changes. Returns the new version's folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        versions = _versions(root)
        number = versions[-1][0] + 1 if versions else 1
        name = f"v{number:06d}"
        tmp = root / f"{_TMP_PREFIX}{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            write(tmp)
            for p in tmp.iterdir():
                fsync_file(p)
            fsync_dir(tmp)
            os.rename(tmp, root / name)
            fsync_dir(root)
            # The commit point: until this atomic replace, CURRENT still names the old version.
            atomic_write_text(root / POINTER, name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _cleanup(root, keep=name)
    return root / name


def _cleanup(root: Path, keep: str) -> None:
    """Delete every version but ``keep`` and leftovers of interrupted saves."""
    for p in root.iterdir():
        if p.name == keep:
            continue
        if _VERSION_RE.match(p.name) or p.name.startswith((_TMP_PREFIX, _POINTER_TMP_PREFIX)):
            log.debug("removing old gallery version %s", p)
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
