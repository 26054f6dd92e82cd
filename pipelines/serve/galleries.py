"""The named galleries a server holds: sub-folders of one root, each behind a lock.

Concurrency contract:

* Reads (search, list) of a gallery run concurrently with each other.
* Writes (enroll, remove) to one gallery are serialized, exclude its readers, and return
  only after :meth:`facerec.gallery.Gallery.save` has committed the new state to disk
  (atomically: a crash leaves the previous version). An acknowledged write therefore
  survives a restart, and no reader ever sees a half-applied change.
* Writes also hold the gallery folder's inter-process lock
  (:func:`facerec.gallery.storage.gallery_write_lock`) from load to save, like every other
  writer (``facerec enroll``, ``facerec gallery remove``, scripts); if another process saved
  the gallery since this one loaded it, the write first reloads the saved version, so no
  process's update is lost. Reads serve the version this process last loaded or saved.
* A write whose save fails is rolled back by reloading the last saved version, so memory
  never holds state the disk does not.

Gallery names are validated (:data:`GALLERY_NAME`) before any path is built, so no request
can reach a folder outside the root.
"""
from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from facerec import FaceRecognizer, ModelError
from facerec.gallery import Gallery, gallery_model
from facerec.gallery.storage import POINTER, current_version, gallery_write_lock
from facerec.models import choose_model

from .errors import ApiError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: What a gallery name may look like (it becomes a folder name).
GALLERY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: A recorded saved version that matches none on disk: the next write reloads.
_UNKNOWN = "?"


def check_gallery_name(name: str) -> str:
    """``name`` if it is a valid gallery name, else 422 ``validation_error``."""
    if not isinstance(name, str) or not GALLERY_NAME.fullmatch(name):
        raise ApiError(422, "validation_error",
                       f"invalid gallery name {name!r}: use 1-64 letters, digits, '_' or '-'")
    return name


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class GalleryStore:
    """Galleries under ``root``, loaded at start, created on first enrollment.

    All methods block (locks, disk, inference): call them from the worker pool.
    """

    def __init__(self, root: str | Path, recognizer: FaceRecognizer, pinned: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.recognizer = recognizer
        self.pinned = pinned  # the server's model was named explicitly (--model/--weights): every gallery uses it
        self._galleries: dict[str, Gallery] = {}
        self._locks: dict[str, RWLock] = {}
        # The saved version ("v000003") each in-memory gallery is, None if never saved.
        self._versions: dict[str, str | None] = {}
        self._registry_lock = threading.Lock()  # guards the three dicts
        self._models: dict[str, FaceRecognizer] = {}  # other named models some galleries were built with
        self._models_lock = threading.Lock()
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and GALLERY_NAME.fullmatch(folder.name) and (folder / POINTER).is_file():
                # A gallery that cannot be loaded (corrupt, other model) stops the start:
                # serving without it would silently answer "unknown" for everyone in it.
                before = _saved_version(folder)
                self._galleries[folder.name] = Gallery.load(folder, recognizer=self._recognizer_for(folder))
                # Loaded without the write lock: if another process saved meanwhile, which version
                # was read is unknown and the first write reloads.
                self._versions[folder.name] = before if _saved_version(folder) == before else _UNKNOWN
                self._locks[folder.name] = RWLock()
                log.info("gallery %s: %d identities", folder.name, len(self._galleries[folder.name]))

    def _recognizer_for(self, folder: Path) -> FaceRecognizer:
        """The recognizer of the model :func:`facerec.models.choose_model` picks for the gallery
        in ``folder``: the server's own when it was named explicitly, else ``$FACEREC_MODEL``,
        else the model that built the gallery (galleries keep their model when the default
        changes), else the default."""
        if self.pinned:
            return self.recognizer
        try:
            name = choose_model(None, lambda: gallery_model(folder))
        except ModelError:  # built with an unnamed model: only the server's own can be it (checked on load)
            return self.recognizer
        if name == self.recognizer.model_name:
            return self.recognizer
        with self._models_lock:
            if name not in self._models:
                log.info("gallery %s: built with model %s; loading it", folder.name, name)
                self._models[name] = self.recognizer.with_model(name)
            return self._models[name]

    def names(self) -> list[str]:
        with self._registry_lock:
            return sorted(self._galleries)

    def sizes(self) -> dict[str, tuple[int, int, str | None, str | None]]:
        """{name: (identities, templates, model name, model id)} of every gallery, each read
        under its lock."""
        out = {}
        for name in self.names():
            try:
                out[name] = self.read(name, lambda g: (len(g), g.num_templates, g.model_name, g.model_id))
            except ApiError:  # rolled back to nothing meanwhile
                pass
        return out

    def _lock(self, name: str, create: bool) -> RWLock:
        check_gallery_name(name)
        with self._registry_lock:
            if create:
                return self._locks.setdefault(name, RWLock())
            if name not in self._locks:
                raise ApiError(404, "not_found", f"no gallery named {name!r}")
            return self._locks[name]

    def _current(self, name: str, create: bool) -> Gallery:
        """The gallery object now registered under ``name`` (call with its lock held)."""
        with self._registry_lock:
            gallery = self._galleries.get(name)
            if gallery is None:
                if not create:
                    raise ApiError(404, "not_found", f"no gallery named {name!r}")
                # Not visible on disk until its first successful save.
                gallery = self._galleries[name] = Gallery(self.recognizer)
            return gallery

    def read(self, name: str, fn: Callable[[Gallery], T]) -> T:
        """``fn(gallery)`` under the gallery's read lock (404 ``not_found`` if unknown)."""
        with self._lock(name, create=False).read():
            return fn(self._current(name, create=False))

    def write(self, name: str, fn: Callable[[Gallery], T], create: bool = False) -> T:
        """``fn(gallery)`` under the write lock, then a durable save; returns ``fn``'s result
        only once the change is on disk. ``create``: make the gallery if it does not exist."""
        # Thread lock, then the folder's inter-process lock (always in this order); a
        # write blocks while another process (e.g. 'facerec enroll') writes this gallery.
        with self._lock(name, create).write(), gallery_write_lock(self.root / name):
            gallery = self._sync(name, create)
            before = (len(gallery), gallery.num_templates)
            try:
                result = fn(gallery)
            except BaseException:
                # The library validates inputs before it mutates; if it mutated anyway, drop it.
                if (len(gallery), gallery.num_templates) != before:
                    self._rollback(name)
                elif not (self.root / name / POINTER).is_file() and len(gallery) == 0:
                    self._rollback(name)  # a failed first enrollment leaves no empty gallery
                raise
            try:
                version = gallery.save(self.root / name)
            except BaseException:
                log.exception("gallery %s: save failed; rolling back to the saved version", name)
                self._rollback(name)
                raise
            with self._registry_lock:
                self._versions[name] = version.name
            return result

    def _sync(self, name: str, create: bool) -> Gallery:
        """The gallery to change, as saved now (call with both write locks held): reloaded
        first if another process saved it since this one loaded or saved it."""
        on_disk = _saved_version(self.root / name)
        with self._registry_lock:
            mine = self._versions.get(name)
        if on_disk != mine:
            log.info("gallery %s: saved by another process (%s, this one has %s); reloading", name, on_disk, mine)
            self._rollback(name)
        return self._current(name, create)

    def _rollback(self, name: str) -> None:
        """Replace the in-memory gallery by its saved version (or forget a never-saved one).
        Called with the gallery's write locks held (the saved version cannot change meanwhile);
        the lock itself stays registered."""
        folder = self.root / name
        version = _saved_version(folder)
        saved = Gallery.load(folder, recognizer=self._recognizer_for(folder)) if version is not None else None
        with self._registry_lock:
            if saved is not None:
                self._galleries[name] = saved
                self._versions[name] = version
            else:
                self._galleries.pop(name, None)
                self._versions.pop(name, None)


def _saved_version(folder: Path) -> str | None:
    """The name of the version saved in ``folder`` now ("v000003"), None if none,
    :data:`_UNKNOWN` if ``CURRENT`` is broken (loading it then raises ``GalleryError``)."""
    try:
        current = current_version(folder)
    except FileNotFoundError:
        return _UNKNOWN
    return None if current is None else current.name
