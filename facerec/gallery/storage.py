"""Crash-safe persistence of a folder of files: versioned sub-folders plus a pointer file.

Layout of a gallery folder::

    DIR/CURRENT          one line, e.g. "v000003": the version that is loaded
    DIR/v000003/...      the files of that version (written once, never modified)
    DIR/.lock            advisory lock (flock): held by every save, and by a writer's whole
                         load -> modify -> save (:func:`gallery_write_lock`)

:func:`save_version` writes the new files into a hidden temporary folder, fsyncs every
file and the folder, renames it to ``vNNNNNN``, and only then replaces ``CURRENT`` with
``os.replace`` (atomic on POSIX) and fsyncs ``DIR``. A crash at any point before that
replace leaves ``CURRENT`` naming the previous, complete version; after it the new one is
complete. Older versions and abandoned temporary folders are deleted after the switch.

Saving is atomic, but a writer that loads version N, changes it and saves N+1 would drop
what another writer saved in between (last writer wins). Every writer of a saved folder (the
CLI, the service, scripts) therefore holds :func:`gallery_write_lock` from its load to its
save; writers in other processes wait for it, and none loses an update::

    with gallery_write_lock("people/"):
        g = Gallery.load("people/", recognizer)
        g.enroll("Ada", ["ada.jpg"])
        g.save("people/")

Readers need no lock: a saved version is never modified and ``CURRENT`` switches atomically.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from facerec.io.atomic import atomic_write_text, fsync_dir, fsync_file
from facerec.io.locking import file_lock

log = logging.getLogger(__name__)

POINTER = "CURRENT"
#: The advisory lock file of every writer (:func:`gallery_write_lock`).
LOCK = ".lock"
_VERSION_RE = re.compile(r"^v(\d{6,})$")
_TMP_PREFIX = ".tmp-"
#: Temporary files of :func:`facerec.io.atomic.atomic_write_text` replacing the pointer.
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
def gallery_write_lock(directory: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive inter-process write lock of a gallery folder (created if missing):
    :func:`facerec.io.locking.file_lock` of ``DIR/.lock``.

    Hold it around the whole load -> modify -> save of a saved gallery, so that no other
    writer (process or thread) saves in between and no update is lost. Re-entrant within a
    thread: :func:`save_version` of the same folder inside it does not lock again (one lock
    file, rather than a separate ".write.lock", also makes a bare save wait for a locked
    read-modify-write instead of slipping between its load and its save).
    """
    with file_lock(Path(directory) / LOCK, what=str(directory)):
        yield


def save_version(root: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a new version of ``root`` atomically and make it current.

    ``write(folder)`` creates the version's files inside the (empty) ``folder``; it may
    raise, in which case nothing visible changes. Returns the new version's folder.
    """
    root = Path(root)
    with gallery_write_lock(root):  # re-entrant: a caller's read-modify-write lock covers it
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
