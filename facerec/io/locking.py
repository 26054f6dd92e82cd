"""THE inter-process write lock of every file store facerec keeps: :func:`file_lock`.

A writer that reads a store, changes it and writes it back (a gallery's load -> enroll ->
save, a cluster run's previous ``clusters.json`` -> new one) holds the store's lock file for
the whole read-modify-write, so a writer in another process (or thread) waits instead of
slipping in between and having its update overwritten. Advisory ``fcntl.flock``: nothing to
install, released by the kernel when a process dies (no stale locks), local file systems.
Readers need no lock where writes are atomic (:mod:`facerec.io.atomic`). The caches of
:mod:`facerec.io.cache` need none either: SQLite locks its own transactions.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

# Lock files this thread holds, keyed by (pid, st_dev, st_ino) of the file, with a depth.
# flock() belongs to an open file description: a second open() of the same file in the same
# process blocks on the first one's lock. So a writer's save, called inside the same writer's
# read-modify-write lock, must not lock again (the lock is re-entrant per thread). Another
# thread of the process opening the file gets its own description and waits, as it should.
# The pid keeps a forked child from taking its parent's lock as its own.
_held = threading.local()


def _held_locks() -> dict[tuple[int, int, int], int]:
    if not hasattr(_held, "locks"):
        _held.locks = {}
    return _held.locks


@contextmanager
def file_lock(path: str | os.PathLike, what: str | None = None) -> Iterator[None]:
    """Hold the exclusive lock of the file ``path`` (created, with its folder, if missing).

    Re-entrant within a thread; other threads and processes wait. ``what`` names the store in
    the log line written while waiting (default: the lock file's folder).
    """
    path = Path(path)
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as f:
            st = os.fstat(f.fileno())
            key = (os.getpid(), st.st_dev, st.st_ino)
            held = _held_locks()
            if key in held:  # this thread holds it already (see _held)
                held[key] += 1
                try:
                    yield
                finally:
                    held[key] -= 1
                return
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("%s: waiting for another writer to finish", what or path.parent)
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                # The folder may have been deleted (or the lock file replaced) while this waited:
                # a lock on a file no longer at ``path`` excludes nobody, so lock the new one.
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                continue
            held[key] = 1
            try:
                yield
            finally:
                del held[key]
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return
