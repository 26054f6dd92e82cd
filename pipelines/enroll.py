"""The workflow behind ``facerec enroll`` (its command line: :mod:`pipelines.cli.enroll`):
Add people to a gallery folder, from named photos or a folder tree.

    facerec enroll --gallery people/ "Ada Lovelace" ada1.jpg ada2.jpg
    facerec enroll --gallery people/ --folders photos/     # photos/<name>/*.jpg, one folder per person
    facerec enroll --gallery people/ "Ada Lovelace" --cluster library/3   # a cluster of 'facerec cluster --out library'
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm import tqdm

from facerec import FacerecError, FaceRecognizer, LowQualityError, ModelError
from facerec.gallery import Gallery, validate_identity
from facerec.gallery.base import FaceChoice
from facerec.types import Face
from facerec.gallery.storage import current_version
from facerec.io.photo import open_photo

from .photos import identity_folders

if TYPE_CHECKING:  # pipelines.cluster imports faiss and scipy: only on use (enroll starts faster)
    from .cluster import ClusterFaces

log = logging.getLogger(__name__)


@dataclass
class EnrollReport:
    """What a bulk enrollment did: templates added per identity, what it skipped (with why),
    and the photos enrolled although their face is of low quality (:class:`QualityGate`)."""

    enrolled: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[dict[str, object]] = field(default_factory=list)  # {"path", "quality", "reasons", ...}

    def to_dict(self) -> dict[str, object]:
        return {"enrolled": self.enrolled, "templates": sum(self.enrolled.values()),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped], "warnings": self.warnings}


class QualityGate:
    """Enrollment's quality check (a :data:`facerec.gallery.base.FaceCheck`): a face whose
    calibrated quality is below ``min_quality`` (default: the calibrated threshold of the
    quality model that rated it, :attr:`facerec.quality.FaceQuality.min_quality`) is recorded
    in ``warnings`` and, when ``strict``, refused with :class:`LowQualityError`.

    A bad template is worse than none: one blurred, tiny or turned-away photo of a person
    draws strangers' faces to it with confident scores (measured: ``benchmarks.quality``).
    """

    def __init__(self, min_quality: float | None = None, strict: bool = False) -> None:
        self.min_quality = None if min_quality is None else float(min_quality)
        self.strict = strict
        self.warnings: list[dict[str, object]] = []

    def __call__(self, face: Face, label: str) -> None:
        q = face.quality
        limit = q.min_quality if self.min_quality is None else self.min_quality
        if q.quality >= limit:
            return
        why = ", ".join(q.reasons) or "poor overall"
        message = (f"{label}: face quality {q.quality:.2f} is below {limit:.2f} ({why}); "
                   "a poor photo makes wrong matches likely")
        if self.strict:
            raise LowQualityError(message + "; use a sharper, larger, frontal photo")
        log.info(message)  # reported by the caller (EnrollReport.warnings), not logged twice
        self.warnings.append({"path": label, "quality": round(q.quality, 4), "min_quality": round(limit, 4),
                              "reasons": list(q.reasons)})


def open_gallery(directory: str | os.PathLike, recognizer: FaceRecognizer | None = None, *,
                 index: str | None = None, aggregation: str | None = None) -> Gallery:
    """The gallery saved in ``directory``, or a new empty one with ``index`` (default Flat) and
    ``aggregation`` (default max). A saved gallery of another model raises ``ModelError``; one
    whose index or aggregation differs from those asked for raises ``ValueError``. To change and
    save it, hold :func:`facerec.gallery.storage.gallery_write_lock` from this call to the save."""
    if current_version(directory) is not None:
        g = Gallery.load(directory, recognizer)
        for what, asked, have in (("index", index, g.index_type), ("aggregation", aggregation, g.aggregation)):
            if asked is not None and asked != have:
                raise ValueError(f"{directory} is a gallery with {what} {have!r}, not {asked!r}")
        return g
    return Gallery(recognizer, index=index or "Flat", aggregation=aggregation or "max")  # type: ignore[arg-type]


def enroll_images(gallery: Gallery, name: str, images: Sequence[str | os.PathLike], face: FaceChoice = None,
                  synth_views: int = 0, gate: QualityGate | None = None) -> int:
    """Enroll every image for ``name``: all or nothing (the first bad image raises, as does a
    low-quality one under a strict ``gate``); ``synth_views`` extra templates per image from
    views synthesised at other yaws."""
    return gallery.enroll(name, [os.fspath(p) for p in images], face=face, synth_views=synth_views, check=gate)


def enroll_folders(gallery: Gallery, root: str | os.PathLike, face: FaceChoice = None,
                   progress: bool = True, synth_views: int = 0, gate: QualityGate | None = None) -> EnrollReport:
    """Enroll ``root/<name>/<image>`` for every sub-folder: one identity per folder name.

    Images that fail (unreadable, no face, several faces without ``face``, below a strict
    ``gate``'s quality) and folders whose name is not a valid identity are skipped and listed
    in the report; hidden files and folders are ignored. The gate's warnings go to the report.
    """
    jobs: list[tuple[str, Path]] = []
    report = EnrollReport()
    for person, files in identity_folders(root, images_only=False):  # every file: bad ones are reported
        try:
            name = validate_identity(person.name)
        except ValueError as exc:
            report.skipped.append((str(person), f"invalid identity name: {exc}"))
            continue
        if not files:
            report.skipped.append((str(person), "no images"))
        jobs.extend((name, f) for f in files)
    for name, path in tqdm(jobs, desc="enroll", unit="img", disable=not progress):
        try:
            n = gallery.enroll(name, os.fspath(path), face=face, synth_views=synth_views, check=gate)
        except ModelError:
            raise  # the gallery's model, not this image: skipping would repeat it for every image
        except (FacerecError, ValueError) as exc:  # ImageError, NoFaceError, MultipleFacesError, bad --face
            report.skipped.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        report.enrolled[name] = report.enrolled.get(name, 0) + n
    if gate is not None:
        report.warnings = list(gate.warnings)
    return report


def enroll_cluster(gallery: Gallery, name: str, cluster: str | os.PathLike | ClusterFaces) -> EnrollReport:
    """Enroll every face of a ``facerec cluster`` cluster (``DIR/ID``, or one already loaded) as
    ``name``.

    No detection: each face is aligned from the landmarks recorded in ``clusters.json`` and
    embedded by the gallery's recognizer (so its options, e.g. frontalisation, apply). The
    cluster must come from the gallery's model (``ModelError`` otherwise). A photo that is gone,
    unreadable or changed since it was clustered (its sha256 differs) is skipped and reported.
    """
    from .cluster import load_cluster

    name = validate_identity(name)
    c = load_cluster(cluster) if isinstance(cluster, (str, os.PathLike)) else cluster
    rec = gallery.recognizer
    if rec is None:
        raise ModelError("enrolling a cluster needs a gallery with a face recognizer")
    if c.model_id != rec.model_id:
        made, uses = _describe(c.model_name, c.model_id), _describe(rec.model_name, rec.model_id)
        raise ModelError(f"cluster {c.cluster_id} was made with model {made}, but the gallery uses {uses}: "
                         "embeddings of two models cannot be mixed; run 'facerec cluster' again with the "
                         "gallery's model (--model), or enroll the cluster into a gallery of its model")
    report = EnrollReport()
    by_photo: dict[str, list[dict]] = {}
    for f in c.faces:
        by_photo.setdefault(str(f["photo"]), []).append(f)
    crops: list[np.ndarray] = []
    for photo, faces in by_photo.items():
        try:
            data = Path(photo).read_bytes()  # hashed and decoded from the same bytes
            if hashlib.sha256(data).hexdigest() != faces[0]["sha256"]:
                report.skipped.append((photo, "the photo changed since it was clustered"))
                continue
            photo = open_photo(data)
            crops += [rec.crop(photo, c.landmarks(f)) for f in faces]
        except (FacerecError, OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.skipped.append((photo, f"{type(exc).__name__}: {reason}"))
    if crops:
        emb = rec.embedder.embed(np.stack(crops))
        report.enrolled[name] = gallery.enroll_many([name] * len(crops), emb, model_id=rec.model_id)
    return report


def _describe(name: str | None, model_id: str) -> str:
    return f"{name} ({model_id})" if name else model_id


def parse_face(value: str | None, option: str = "--face") -> FaceChoice:
    """``--face`` (or the service's ``face`` parameter, named by ``option``): an integer index
    or "largest"; ValueError otherwise."""
    if value is None or value == "largest":
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{option} takes an index or 'largest', not {value!r}") from None
