"""The workflow behind ``facerec cluster PHOTOS... --out DIR`` (its command line: :mod:`pipelines.cli.cluster`):
Who appears in this photo library? (no gallery needed)

Every face of every photo is detected, aligned and embedded, and the faces are grouped into
people with :func:`facerec.clustering.cluster_embeddings` (default: average linkage at the
model's open-set search threshold). Outputs in ``DIR``:

* ``clusters.json`` — clusters biggest first (id, faces: photo, sha256, face index, box,
  landmarks, detector score, embedding row, thumbnail), ``unclustered`` faces (in clusters
  smaller than ``--min-size``), the photos skipped (with why), model, threshold and method;
* ``embeddings.npy`` — (faces, D) float32, row ``row`` of each face;
* ``faces/<id>/<n>.jpg`` (and ``faces/unclustered/<n>.jpg``) — one aligned thumbnail per face;
* ``index.html`` — a static contact sheet: one row of thumbnails per cluster, biggest first;
* ``cache/`` — per photo, keyed by the sha256 of its bytes and the model and detector
  settings: its detections, embeddings and thumbnails. A rerun on a grown folder detects and
  embeds only the new photos, and clusters that hold the same people as the previous run's
  ``clusters.json`` keep their ids (:func:`facerec.clustering.match_previous`);
* ``decisions.json`` — the user's corrections (:mod:`pipelines.cluster_decisions`, made with
  :mod:`pipelines.cluster_corrections`), replayed as constraints on every run.

A rerun is incremental: the previous run's clusters keep their faces and never merge with
each other; new faces join them by the rule of a full run (average linkage: mean cosine to
the cluster ``>= threshold``) or cluster among themselves. Two faces of one photo are never
put in one cluster, and low-quality faces (:data:`MIN_QUALITY`) may join a cluster but never
start or bridge one. Every write of the folder holds :func:`library_lock`.

``facerec enroll --gallery G NAME --cluster DIR/ID`` turns a cluster into a gallery identity.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import os
import shlex
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from facerec.io.atomic import atomic_path, atomic_write, atomic_write_text
from facerec.io.cache import ArrayCache, detector_settings, embedder_settings
from facerec.io.checksum import file_sha256
from facerec.io.formats import check_version
from facerec.clustering import METHOD_K, cluster_embeddings, match_previous
from facerec.errors import FacerecError, ModelError
from facerec.io.locking import file_lock
from facerec.io.photo import open_photo
from facerec.quality import face_quality
from facerec.recognizer import FaceRecognizer
from facerec.types import LANDMARK_NAMES, Detection

from .cluster_decisions import (FaceTable, cluster_names, compile_decisions, library_constraints,
                                read_decisions)
from .photos import IMAGE_SUFFIXES, list_images

log = logging.getLogger(__name__)

CLUSTERS_JSON = "clusters.json"
INDEX_HTML = "index.html"
EMBEDDINGS_NPY = "embeddings.npy"
FACES_DIR = "faces"
CACHE_DIR = "cache"
UNCLUSTERED = "unclustered"
#: Written into ``faces/`` so a rerun only ever deletes a thumbnail folder that it made.
FACES_MARKER = ".facerec-thumbnails"
FORMAT_VERSION = 1
METHODS: tuple[str, ...] = tuple(METHOD_K)
#: Crops per embedder call, gathered across photos (one photo rarely has enough faces for a
#: batch). Batches pay on torch and GPUs; on onnxruntime on one CPU core big ones were slower
#: (SFace, AVX2, loaded machine: 39 ms/crop one at a time, 44 at 16, 53–75 at 64), so moderate.
EMBED_BATCH = 16
THUMB_QUALITY = 90
#: Thumbnails shown at once by the contact sheet; later ones load as they scroll into view.
EAGER_THUMBNAILS = 300
#: Faces whose :func:`facerec.quality.face_quality` score is below this may join a cluster but
#: never start or bridge one. Provisional (the quality rule's own threshold is being
#: calibrated): on all of LFW with every face detected (14,822 faces; default model and
#: detector, quality of the cached 112 px thumbnails) 2.6 % of the faces score below it (1st
#: percentile 0.009, 5th 0.12, median 0.40), mostly faces cut by the frame, turned or blurred;
#: pairwise F1 0.9952 with it, 0.9953 without (``python -m benchmarks.cluster_library``).
#: ``--min-quality 0`` turns the rule off.
MIN_QUALITY = 0.05


@contextmanager
def library_lock(out_dir: str | os.PathLike) -> Iterator[None]:
    """The one lock of a library folder: every read-modify-write of ``clusters.json``,
    ``decisions.json``, ``faces/`` and ``index.html`` holds it (processes wait for each other;
    no update is lost)."""
    with file_lock(Path(out_dir) / ".lock", what=os.fspath(out_dir)):
        yield


# -- finding photos ---------------------------------------------------------------------------
def find_photos(inputs: Sequence[str | os.PathLike], exclude: str | os.PathLike | None = None) -> list[Path]:
    """The photos named by ``inputs``: files as given, folders walked recursively for files
    with an :data:`IMAGE_SUFFIXES` suffix (hidden files and folders skipped), each photo once,
    in argument order (sorted within a folder). Files under ``exclude`` (the output folder)
    are left out. A missing input raises ``FileNotFoundError``."""
    excluded = Path(exclude).resolve() if exclude is not None else None
    seen: set[Path] = set()
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
        elif p.is_file():
            found = [p]
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
        for f in found:
            r = f.resolve()
            if r in seen or (excluded is not None and r.is_relative_to(excluded)):
                continue
            seen.add(r)
            out.append(f)
    return out


# -- the per-photo cache ----------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoFaces:
    """The faces of one photo: detections (highest score first) and their embeddings."""

    boxes: np.ndarray  # (F, 4) float32
    scores: np.ndarray  # (F,) float32
    landmarks: np.ndarray  # (F, 5, 2) float32
    embeddings: np.ndarray  # (F, D) float32, unit rows

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def detection(self, i: int) -> Detection:
        return Detection(self.boxes[i], float(self.scores[i]), self.landmarks[i])


def settings_key(recognizer: FaceRecognizer) -> dict[str, Any]:
    """Everything besides a photo's bytes that changes its faces (:mod:`facerec.io.cache`'s key)."""
    return {"embedder": embedder_settings(recognizer.embedder), "detector": detector_settings(recognizer.detector)
            or repr(getattr(recognizer.detector, "config", None)), "frontalize": recognizer.frontalize}


class FaceCache:
    """A photo's faces by the sha256 of its bytes (a :class:`facerec.io.cache.ArrayCache` in
    ``root``) and ``<sha>_<i>.jpg``, the aligned thumbnail of its face ``i``, beside it. The
    entry is written after its thumbnails, so an entry means they are there."""

    def __init__(self, root: str | os.PathLike, recognizer: FaceRecognizer) -> None:
        d = recognizer.embedder.embedding_size
        self.store = ArrayCache(root, "faces", settings_key(recognizer), {
            "boxes": ((-1, 4), "float32"), "scores": ((-1,), "float32"), "landmarks": ((-1, 5, 2), "float32"),
            "embeddings": ((-1, d), "float32")})

    def thumbnail(self, sha: str, i: int) -> Path:
        return self.store.file_for(sha, f"_{i}.jpg")

    def get(self, sha: str) -> PhotoFaces | None:
        hit = self.store.get(sha)
        if hit is None or not all(self.thumbnail(sha, i).is_file() for i in range(len(hit["scores"]))):
            return None
        return PhotoFaces(**hit)

    def put(self, sha: str, faces: PhotoFaces, crops: Sequence[np.ndarray]) -> None:
        for i, crop in enumerate(crops):
            with atomic_path(self.thumbnail(sha, i)) as tmp:
                Image.fromarray(crop).save(tmp, format="JPEG", quality=THUMB_QUALITY)
        self.store.put(sha, **dataclasses.asdict(faces))
        self.store.flush()


# -- the report -------------------------------------------------------------------------------
@dataclass
class FaceRecord:
    """One face of the library: where it is, its detection, its row in ``embeddings.npy``."""

    photo: str  # absolute path
    sha256: str  # of the photo's bytes
    face: int  # index among the photo's detections (highest score first)
    detection: Detection
    row: int
    cluster: int = -1  # -1: unclustered
    thumbnail: str = ""  # relative to the output folder (POSIX)
    quality: float = 1.0  # facerec.quality.face_quality score

    @property
    def id(self) -> str:
        """Stable face id for the command line: 12 hex digits of the photo hash, ``:``, the index."""
        return f"{self.sha256[:12]}:{self.face}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "photo": self.photo, "sha256": self.sha256, "face": self.face,
                **self.detection.to_dict(), "quality": round(float(self.quality), 4), "row": self.row,
                "thumbnail": self.thumbnail}

    @classmethod
    def from_dict(cls, d: dict[str, Any], cluster: int) -> "FaceRecord":
        """A face record of ``clusters.json``."""
        det = Detection(np.array(d["box"], np.float32), float(d["score"]),
                        np.array([d["landmarks"][n] for n in LANDMARK_NAMES], np.float32))
        return cls(str(d["photo"]), str(d["sha256"]), int(d["face"]), det, int(d["row"]), cluster,
                   str(d.get("thumbnail", "")), float(d.get("quality", 1.0)))


@dataclass
class ClusterReport:
    """What :func:`cluster_photos` found and wrote."""

    out_dir: Path
    model_name: str | None
    model_id: str
    threshold: float
    method: str
    min_size: int
    photos: int = 0  # photos read (including those without faces)
    embedded_photos: int = 0  # detected and embedded in this run
    cached_photos: int = 0  # taken from the cache
    photos_without_faces: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    faces: list[FaceRecord] = field(default_factory=list)
    seconds: float = 0.0
    names: dict[int, str] = field(default_factory=dict)  # cluster id → the name a user gave it
    min_quality: float = MIN_QUALITY
    incremental: bool = False  # earlier clusters kept, new faces assigned to them
    decisions: int = 0  # user decisions applied
    decisions_skipped: list[str] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        return np.array([f.cluster for f in self.faces], np.int64)

    def clusters(self) -> list[tuple[int, list[FaceRecord]]]:
        """(id, faces) per cluster, biggest first (equal sizes: lower id first)."""
        by_id: dict[int, list[FaceRecord]] = {}
        for f in self.faces:
            if f.cluster >= 0:
                by_id.setdefault(f.cluster, []).append(f)
        return sorted(by_id.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    @property
    def unclustered(self) -> list[FaceRecord]:
        return [f for f in self.faces if f.cluster < 0]

    def _model(self) -> dict[str, Any]:
        return {"name": self.model_name, "id": self.model_id}

    def to_dict(self) -> dict[str, Any]:
        """The ``clusters.json`` document."""
        return {"format": "facerec.clusters", "version": FORMAT_VERSION, "model": self._model(),
                "threshold": self.threshold, "method": self.method, "min_size": self.min_size,
                "min_quality": self.min_quality, "photos": self.photos, "faces": len(self.faces),
                "embeddings": EMBEDDINGS_NPY,
                "clusters": [{"id": cid, **({"name": self.names[cid]} if cid in self.names else {}),
                              "size": len(fs), "photos": photo_count(fs),
                              "faces": [f.to_dict() for f in fs]} for cid, fs in self.clusters()],
                "unclustered": [f.to_dict() for f in self.unclustered],
                "photos_without_faces": self.photos_without_faces,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}

    def summary_dict(self) -> dict[str, Any]:
        """The ``--json`` document: counts and cluster sizes, not every face."""
        return {"out": str(self.out_dir), "clusters_json": str(self.out_dir / CLUSTERS_JSON),
                "index_html": str(self.out_dir / INDEX_HTML), "model": self._model(), "threshold": self.threshold,
                "method": self.method, "min_size": self.min_size, "photos": self.photos,
                "photos_embedded": self.embedded_photos, "photos_cached": self.cached_photos,
                "photos_without_faces": len(self.photos_without_faces), "faces": len(self.faces),
                "clusters": [{"id": cid, **({"name": self.names[cid]} if cid in self.names else {}),
                              "faces": len(fs), "photos": photo_count(fs)} for cid, fs in self.clusters()],
                "unclustered": len(self.unclustered), "incremental": self.incremental,
                "decisions": self.decisions, "decisions_skipped": self.decisions_skipped,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "seconds": round(self.seconds, 2)}


def photo_count(faces: Iterable[FaceRecord]) -> int:
    return len({f.photo for f in faces})


def plural(count: int, noun: str) -> str:
    """``1 face``, ``2 faces``."""
    return f"{count} {noun}{'s' * (count != 1)}"


# -- the workflow -----------------------------------------------------------------------------
def cluster_photos(recognizer: FaceRecognizer, inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                   threshold: float | None = None, method: str = "average", min_size: int = 1,
                   progress: bool = False, batch_size: int = EMBED_BATCH, full: bool = False,
                   min_quality: float = MIN_QUALITY) -> ClusterReport:
    """Detect, embed and cluster every face of the photos in ``inputs`` (files or folders) and
    write ``clusters.json``, ``embeddings.npy``, the thumbnails and ``index.html`` to ``out_dir``.

    ``threshold``: cosine at which two faces count as one person (default: the model's open-set
    search threshold); ``method``: ``average``, ``chinese_whispers`` or ``components``; faces in
    clusters smaller than ``min_size`` are unclustered. Unreadable photos are skipped and listed
    in the report; no photo at all raises ``FileNotFoundError``. ``progress``: a tqdm bar (with
    the time left) over the photos that need detecting.

    A rerun is incremental: the faces of the previous run's clusters stay in them, new faces
    join them by the same rule (mean cosine to the cluster ``>= threshold``) or cluster among
    themselves; ``full=True`` re-clusters everything. Either way the user's decisions
    (``decisions.json``: names, merges, moves, splits) are applied, two faces of one photo
    never share a cluster, and faces with quality below ``min_quality`` may join a cluster but
    never start or bridge one.
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {', '.join(METHODS)}")
    if min_size < 1:
        raise ValueError(f"--min-size must be at least 1, got {min_size}")
    thr = recognizer.search_threshold if threshold is None else float(threshold)
    if thr is None:
        raise ModelError("this model has no calibrated threshold: give one with --threshold")
    out = Path(out_dir)
    if (out / FACES_DIR).exists() and not (out / FACES_DIR / FACES_MARKER).is_file():  # before hours of work
        raise FacerecError(f"{out / FACES_DIR} exists and was not written by facerec cluster: choose another --out")
    if (out / CLUSTERS_JSON).is_file():
        try:
            read_clusters_json(out / CLUSTERS_JSON)  # a newer facerec's file: refused before any work
        except (ValueError, KeyError, TypeError):
            pass  # unreadable: the run starts afresh (and says so when it would reuse its ids)
    photos = find_photos(inputs, exclude=out)
    if not photos:
        raise FileNotFoundError(f"no images found in {', '.join(os.fspath(p) for p in inputs)} "
                                f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    out.mkdir(parents=True, exist_ok=True)
    report = ClusterReport(out, recognizer.model_name, recognizer.model_id, thr, method, min_size,
                           min_quality=min_quality)
    read_decisions(out)  # a newer or broken decisions file: refused before any work
    cache = FaceCache(out / CACHE_DIR, recognizer)

    # 1. Each photo's faces: from the cache by content, else detected and embedded below.
    found: dict[int, tuple[str, PhotoFaces]] = {}  # photo index → (sha256, faces)
    todo: list[tuple[int, Path]] = []
    copies: dict[int, int] = {}  # photo index → earlier photo with the same bytes, still to detect
    first_todo: dict[str, int] = {}
    for i, path in enumerate(photos):
        try:
            sha = file_sha256(path)
        except OSError as exc:
            report.skipped.append((str(path), f"unreadable: {exc.strerror or exc}"))
            continue
        faces = cache.get(sha)
        if faces is not None:
            found[i] = (sha, faces)
        elif sha in first_todo:  # the same photo twice (a copy): detect it once
            copies[i] = first_todo[sha]
        else:
            first_todo[sha] = i
            todo.append((i, path))
    report.cached_photos = len(found)
    log.info("%d photos: %d cached, %d to detect and embed", len(photos), len(found), len(todo))
    _detect_and_embed(recognizer, todo, cache, found, report, progress, batch_size)
    for i, j in copies.items():
        if j in found:
            found[i] = found[j]
        else:
            report.skipped.append((str(photos[i]), f"same content as {photos[j]}, which was skipped"))

    # 2. Face records in photo order, one embedding row each.
    rows: list[np.ndarray] = []
    for i in sorted(found):
        sha, faces = found[i]
        photo = os.path.abspath(photos[i])
        report.photos += 1
        if not len(faces):
            report.photos_without_faces.append(photo)
        for j in range(len(faces)):
            det = faces.detection(j)
            report.faces.append(FaceRecord(photo, sha, j, det, row=len(report.faces),
                                           quality=_quality(cache.thumbnail(sha, j), det)))
        rows.append(faces.embeddings)
    dim = recognizer.embedder.embedding_size
    embeddings = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)

    # 3. Cluster under the user's decisions (incrementally on a rerun) and write the outputs,
    #    all under the library lock: a correction made meanwhile is read, not overwritten.
    with library_lock(out):
        assign_clusters(report, embeddings, _previous_doc(out / CLUSTERS_JSON), read_decisions(out),
                        incremental=not full)
        write_library(report, embeddings, lambda f: cache.thumbnail(f.sha256, f.face), t0)
    return report


def _quality(thumbnail: Path, det: Detection) -> float:
    """:func:`facerec.quality.face_quality` of a face from its aligned thumbnail."""
    try:
        crop = np.asarray(Image.open(thumbnail).convert("RGB"))
    except OSError as exc:  # the cache checked it exists; an unreadable one only loses the rule
        log.warning("no quality for %s (%s)", thumbnail, exc)
        return 1.0
    return face_quality(crop, det.landmarks, det.box).score


def _previous_doc(path: Path) -> dict[str, Any] | None:
    """The previous run's ``clusters.json``, or None (none, or unreadable: the run starts afresh)."""
    if not path.is_file():
        return None
    try:
        return read_clusters_json(path)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the previous %s (%s): clustering afresh", path, exc)
        return None


def assign_clusters(report: ClusterReport, embeddings: np.ndarray, previous: dict[str, Any] | None,
                    decisions: Sequence[dict[str, Any]], incremental: bool = True) -> None:
    """Set every face's ``cluster`` and the report's names: the decisions replayed as
    constraints, over the clusters of ``previous`` (the previous ``clusters.json``) when
    ``incremental``; cluster ids are kept from ``previous`` where the people are the same."""
    faces = report.faces
    report.decisions = len(decisions)
    if not faces:
        return
    table = FaceTable([f.sha256 for f in faces], [f.face for f in faces],
                      np.array([f.detection.box for f in faces], np.float64))
    decided, replayed = compile_decisions(decisions, table)
    report.decisions_skipped = list(replayed.skipped)
    old = _previous_labels(previous, table) if previous is not None and incremental else None
    report.incremental = old is not None and bool(np.any(old >= 0))
    core = np.array([f.quality >= report.min_quality for f in faces])
    constraints = library_constraints(table, decided, old if report.incremental else None, core)
    if report.method != "average":  # the other methods take only the photos' cannot-links
        if decisions:
            raise FacerecError(f"this library has {len(decisions)} decisions: they need --method average")
        constraints = dataclasses.replace(constraints, groups=None, frozen=None, core=None)
    labels = cluster_embeddings(embeddings, report.threshold, report.method,  # type: ignore[arg-type]
                                min_size=report.min_size, constraints=constraints)
    if previous is not None:
        labels = _keep_previous_ids(previous, faces, labels)
    for f, lab in zip(faces, labels):
        f.cluster = int(lab)
    report.names = cluster_names(labels, decided)


def _previous_labels(doc: dict[str, Any], table: FaceTable) -> np.ndarray | None:
    """(N,) the previous run's cluster of each face of ``table`` (-1: new or unclustered then)."""
    try:
        old = {f"{f['sha256']}:{int(f['face'])}": int(c["id"]) for c in doc["clusters"] for f in c["faces"]}
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring the previous clusters (%s): clustering afresh", exc)
        return None
    return np.array([old.get(table.key(r), -1) for r in range(len(table))], np.int64)


def write_library(report: ClusterReport, embeddings: np.ndarray, thumbnail: Callable[[FaceRecord], Path],
                  t0: float | None = None) -> None:
    """Write the thumbnails (linked from ``thumbnail(face)``), ``embeddings.npy``,
    ``clusters.json`` and ``index.html`` (those two last: they point at the others).
    Call it holding :func:`library_lock`."""
    out = report.out_dir
    _write_thumbnails(report, thumbnail)
    with atomic_write(out / EMBEDDINGS_NPY) as fh:
        np.save(fh, embeddings)
    if t0 is not None:
        report.seconds = time.perf_counter() - t0
    atomic_write_text(out / CLUSTERS_JSON, json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(out / INDEX_HTML, contact_sheet_html(report))
    log.info("%d faces in %d photos → %d clusters, %d unclustered (%.1f s)", len(report.faces), report.photos,
             len(report.clusters()), len(report.unclustered), report.seconds)


def _detect_and_embed(recognizer: FaceRecognizer, todo: Sequence[tuple[int, Path]], cache: FaceCache,
                      found: dict[int, tuple[str, PhotoFaces]], report: ClusterReport, progress: bool,
                      batch_size: int) -> None:
    """Detect every face of the ``todo`` photos and embed their crops in batches across photos;
    each photo is cached as soon as its embeddings exist (an interrupted run keeps them)."""
    # Photos detected but not yet embedded: (index, sha, detections, crops).
    pending: list[tuple[int, str, list[Detection], list[np.ndarray]]] = []
    # The bar counts a photo when its embeddings exist, so its rate and time left include both.
    bar = tqdm(total=len(todo), desc="faces", unit="photo", disable=not progress or not todo)

    def flush() -> None:
        crops = [c for *_, cs in pending for c in cs]
        emb = recognizer.embedder.embed(np.stack(crops), batch_size=batch_size) if crops else None
        start = 0
        for i, sha, dets, cs in pending:
            n = len(cs)
            faces = PhotoFaces(np.array([d.box for d in dets], np.float32).reshape(n, 4),
                               np.array([d.score for d in dets], np.float32).reshape(n),
                               np.array([d.landmarks for d in dets], np.float32).reshape(n, 5, 2),
                               (emb[start:start + n] if emb is not None else
                                np.zeros((0, recognizer.embedder.embedding_size))).astype(np.float32))
            start += n
            cache.put(sha, faces, cs)
            found[i] = (sha, faces)
            report.embedded_photos += 1
        bar.update(len(pending))
        pending.clear()

    queued = 0
    for i, path in todo:
        try:
            data = path.read_bytes()  # hashed and decoded from the same bytes
            photo = open_photo(data)  # decoded at the size detection and alignment need
            dets = recognizer.detector.detect(photo)
            crops = [recognizer.crop(photo, d.landmarks) for d in dets]
        except (FacerecError, OSError, ValueError) as exc:  # this photo, not the run: report, go on
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.skipped.append((str(path), f"{type(exc).__name__}: {reason}"))
            log.warning("skipped %s: %s", path, reason)
            bar.update(1)
            continue
        pending.append((i, hashlib.sha256(data).hexdigest(), dets, crops))
        queued += len(crops)
        if queued >= batch_size:
            flush()
            queued = 0
    flush()
    bar.close()


def _face_keys(items: Iterable[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(sha256, face index, occurrence): one key per face, duplicate photos told apart by order."""
    seen: dict[tuple[str, int], int] = {}
    keys = []
    for sha, j in items:
        k = seen.get((sha, j), 0)
        seen[(sha, j)] = k + 1
        keys.append((sha, j, k))
    return keys


def read_clusters_json(path: Path) -> dict[str, Any]:
    """A ``clusters.json`` document, its format and version checked: :class:`facerec.errors.NewerFormat` for a
    version above :data:`FORMAT_VERSION` (never overwritten or misread), ValueError for a file
    that is not one."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    check_version(doc, "facerec.clusters", FORMAT_VERSION, path.name, invalid=ValueError,
                  advice="upgrade facerec or use another --out folder")
    return doc


def _keep_previous_ids(doc: dict[str, Any], faces: Sequence[FaceRecord], labels: np.ndarray) -> np.ndarray:
    """``labels`` renumbered so clusters of the same people as the previous run (``doc``, its
    ``clusters.json``) keep its ids. Faces are matched by photo content and face index, so
    moved or renamed photos still count."""
    try:
        old = [(f["sha256"], int(f["face"]), int(c["id"])) for c in doc["clusters"] for f in c["faces"]]
        old += [(f["sha256"], int(f["face"]), -1) for f in doc.get("unclustered", [])]
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the previous clusters (%s): cluster ids start afresh", exc)
        return labels
    # The previous file lists faces by cluster; restore photo order so duplicates pair up in order.
    old.sort(key=lambda t: (t[0], t[1]))
    old_label = dict(zip(_face_keys((s, j) for s, j, _ in old), (c for *_, c in old)))
    now = _face_keys((f.sha256, f.face) for f in faces)
    index = np.array([r for r, key in enumerate(now) if key in old_label], np.int64)
    previous = np.array([old_label[now[r]] for r in index], np.int64)
    log.info("previous run: %d of its faces are in this run", index.size)
    if index.size == 0:
        return labels
    return match_previous(previous, labels, index)


def _write_thumbnails(report: ClusterReport, thumbnail: Callable[[FaceRecord], Path]) -> None:
    """``faces/<id>/<n>.jpg`` per cluster (``faces/unclustered/<n>.jpg``), linked or copied from
    ``thumbnail(face)`` (the cache's file, or the current one), built beside the old folder and
    swapped in whole."""
    out = report.out_dir
    new = out / f".{FACES_DIR}.new"
    if new.exists():
        shutil.rmtree(new)
    new.mkdir()
    (new / FACES_MARKER).write_text("thumbnails written by facerec cluster; replaced on every run\n")
    groups = [(str(cid), fs) for cid, fs in report.clusters()] + [(UNCLUSTERED, report.unclustered)]
    for name, faces in groups:
        if faces:
            (new / name).mkdir()
        for n, f in enumerate(faces):
            rel = f"{FACES_DIR}/{name}/{n}.jpg"
            src, dst = thumbnail(f), new / name / f"{n}.jpg"
            try:
                os.link(src, dst)  # the cache's file itself: no copy, no re-encoding
            except OSError:
                shutil.copyfile(src, dst)
            f.thumbnail = rel
    final = out / FACES_DIR
    if final.exists():  # ours (checked by cluster_photos before it started)
        old = out / f".{FACES_DIR}.old"
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
        new.rename(final)
        shutil.rmtree(old)
    else:
        new.rename(final)


# -- the contact sheet ------------------------------------------------------------------------
_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
header p { margin: 2px 0; color: #555; }
code { background: #eee; padding: 0 3px; }
section { display: flex; align-items: flex-start; gap: 10px; margin: 8px 0; padding: 6px 8px;
          background: #fff; border: 1px solid #ddd; border-radius: 6px; }
h2 { flex: 0 0 120px; font-size: 15px; margin: 0; }
h2 .count { display: block; font-weight: normal; font-size: 13px; color: #666; }
.faces { display: flex; flex-wrap: wrap; gap: 4px; }
.faces img { width: 80px; height: 80px; display: block; border-radius: 3px; }
section.unclustered { background: #f3f3f3; }
h2 .name { display: block; color: #0a5; }
.fix { flex: 0 0 100%; margin: 2px 0 0; font-size: 12px; color: #555; }
.fix code { user-select: all; }
.faces figure { margin: 0; text-align: center; font-size: 11px; color: #666; }
"""


def contact_sheet_html(report: ClusterReport) -> str:
    """``index.html``: one row of thumbnails per cluster (biggest first), the unclustered faces
    last. Static and self-contained: images are relative links into ``faces/``; each thumbnail
    links to its photo."""
    e = html.escape
    model = report.model_name or report.model_id
    clusters = report.clusters()
    out = report.out_dir.resolve()
    d = e(_shell_quote(str(report.out_dir)))
    parts = [
        "<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>facerec clusters: {len(clusters)} clusters, {len(report.faces)} faces</title>",
        f"<style>{_CSS}</style>", "</head>", "<body>", "<header>",
        f"<h1>{len(clusters)} clusters of {len(report.faces)} faces in {report.photos} photos</h1>",
        f"<p>model {e(model)} · threshold {report.threshold:.4f} · method {e(report.method)} · "
        f"min size {report.min_size} · {len(report.unclustered)} unclustered · "
        f"{len(report.photos_without_faces)} photos without faces · {len(report.skipped)} skipped</p>",
        f"<p>{len(report.names)} named · {report.decisions} decisions applied"
        f"{' · incremental' if report.incremental else ''} · faces below quality {report.min_quality:g} "
        "join clusters but never start one</p>",
        f"<p>Correct it (each correction is kept in <code>decisions.json</code> and survives every rerun): "
        f"<code>facerec cluster name {d} ID NAME</code> · <code>facerec cluster merge {d} ID OTHER_ID</code> · "
        f"<code>facerec cluster not {d} ID/N</code> (face N of cluster ID is not this person) · "
        f"<code>facerec cluster move {d} ID/N OTHER_ID</code> · "
        f"<code>facerec cluster split {d} ID N [N ...]</code> (those faces are another person). "
        f"Face ID/N is the N-th thumbnail of cluster ID (shown under it). Then add photos and rerun "
        f"<code>facerec cluster PHOTOS --out {d}</code>.</p>",
        "<p>Make a cluster a gallery identity: <code>facerec enroll --gallery GALLERY NAME --cluster "
        f"{d}/ID</code></p>", "</header>"]
    shown = 0

    def row(faces: Sequence[FaceRecord], cid: int | None) -> str:
        nonlocal shown
        cells = []
        for n, f in enumerate(faces):
            lazy = ' loading="lazy"' if shown >= EAGER_THUMBNAILS else ""
            shown += 1
            spec = f"{cid}/{n}" if cid is not None else f.id
            title = (f"{f.photo} (face {f.face}, score {f.detection.score:.3f}, quality {f.quality:.2f}); "
                     + (f"not this person: facerec cluster not {report.out_dir} {spec}" if cid is not None
                        else f"put it in a cluster: facerec cluster move {report.out_dir} {spec} ID"))
            cells.append(f'<figure data-face="{e(f.id)}"><a href="{e(_photo_href(f.photo, out))}" title="{e(title)}">'
                         f'<img src="{e(f.thumbnail)}" alt="face {f.face} of {e(Path(f.photo).name)}"'
                         f' width="80" height="80"{lazy}></a><figcaption>{e(spec)}</figcaption></figure>')
        return f'<div class="faces">{"".join(cells)}</div>'

    for cid, faces in clusters:
        n_photos = photo_count(faces)
        name = report.names.get(cid)
        label = f'<span class="name">{e(name)}</span>' if name else ""
        fix = (f'<p class="fix"><code>facerec cluster name {d} {cid} {"NAME" if not name else e(_shell_quote(name))}'
               f'</code> · <code>facerec cluster merge {d} {cid} OTHER_ID</code> · '
               f'<code>facerec cluster split {d} {cid} N ...</code></p>')
        parts += [f'<section class="cluster" id="cluster-{cid}" data-cluster="{cid}" data-faces="{len(faces)}" '
                  f'data-photos="{n_photos}"' + (f' data-name="{e(name)}"' if name else "") + ">",
                  f'<h2>Cluster {cid}{label}<span class="count">{plural(len(faces), "face")} · '
                  f'{plural(n_photos, "photo")}</span></h2>', row(faces, cid), fix, "</section>"]
    if report.unclustered:
        faces = report.unclustered
        parts += [f'<section class="unclustered" id="unclustered" data-faces="{len(faces)}">',
                  f'<h2>Unclustered<span class="count">{plural(len(faces), "face")} in clusters smaller than '
                  f'{report.min_size} or of low quality</span></h2>', row(faces, None), "</section>"]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _shell_quote(text: str) -> str:
    """``text`` as one shell word (quoted only when it needs it)."""
    return shlex.quote(text)


def _photo_href(photo: str, out: Path) -> str:
    """A link from the page to the photo: relative when possible (the folder can move with its
    photos), else a file URI."""
    try:
        rel = os.path.relpath(photo, out)
    except ValueError:  # another drive (Windows)
        return Path(photo).as_uri()
    return Path(rel).as_posix()


# -- reading a previous run (for enroll --cluster) ----------------------------------------------
@dataclass(frozen=True)
class ClusterFaces:
    """The faces of one cluster of a ``facerec cluster`` output, with the model that made them."""

    cluster_id: int
    model_name: str | None
    model_id: str
    faces: list[dict[str, Any]]  # clusters.json face records

    def landmarks(self, face: dict[str, Any]) -> np.ndarray:
        """(5, 2) float32 image landmarks of one face record."""
        lm = face["landmarks"]
        return np.array([lm[n] for n in LANDMARK_NAMES], np.float32)


def load_cluster(spec: str | os.PathLike) -> ClusterFaces:
    """The cluster named ``DIR/ID`` (``DIR``: a ``facerec cluster --out`` folder, ``ID``: a
    cluster id of its ``clusters.json``)."""
    p = Path(spec)
    try:
        cid = int(p.name)
    except ValueError:
        raise ValueError(f"--cluster takes DIR/ID with a cluster id number, got {os.fspath(spec)!r}") from None
    path = p.parent / CLUSTERS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (--cluster DIR/ID needs the folder of a 'facerec cluster' run)")
    try:
        doc = read_clusters_json(path)
        model = doc["model"]
        by_id = {int(c["id"]): c for c in doc["clusters"]}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FacerecError(f"{path}: unreadable clusters file ({exc})") from None
    if cid not in by_id:
        known = ", ".join(str(i) for i in sorted(by_id)[:20])
        raise FacerecError(f"{path}: no cluster {cid} (clusters: {known or 'none'})")
    return ClusterFaces(cid, model.get("name"), str(model["id"]), list(by_id[cid]["faces"]))


# -- command line -----------------------------------------------------------------------------
