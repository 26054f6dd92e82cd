"""``facerec enroll``: add people to a gallery folder, from named photos or a folder tree.

    facerec enroll --gallery people/ "Ada Lovelace" ada1.jpg ada2.jpg
    facerec enroll --gallery people/ --folders photos/     # photos/<name>/*.jpg, one folder per person
    facerec enroll --gallery people/ "Ada Lovelace" --cluster library/3   # a cluster of 'facerec cluster --out library'
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm import tqdm

from facerec import FacerecError, FaceRecognizer, ModelError
from facerec.gallery import AGGREGATIONS, Gallery, validate_identity
from facerec.gallery.base import FaceChoice
from facerec.gallery.storage import current_version
from facerec.image import load_image

from .common import add_model_args, emit_json, load_recognizer
from .photos import identity_folders

if TYPE_CHECKING:  # pipelines.cluster imports faiss and scipy: only on use (enroll starts faster)
    from .cluster import ClusterFaces

log = logging.getLogger(__name__)


@dataclass
class EnrollReport:
    """What a bulk enrollment did: templates added per identity, and what it skipped (with why)."""

    enrolled: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def to_dict(self) -> dict[str, object]:
        return {"enrolled": self.enrolled, "templates": sum(self.enrolled.values()),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def open_gallery(directory: str | os.PathLike, recognizer: FaceRecognizer | None = None, *,
                 index: str | None = None, aggregation: str | None = None) -> Gallery:
    """The gallery saved in ``directory``, or a new empty one with ``index`` (default Flat) and
    ``aggregation`` (default max). A saved gallery of another model raises ``ModelError``; one
    whose index or aggregation differs from those asked for raises ``ValueError``."""
    if current_version(directory) is not None:
        g = Gallery.load(directory, recognizer)
        for what, asked, have in (("index", index, g.index_type), ("aggregation", aggregation, g.aggregation)):
            if asked is not None and asked != have:
                raise ValueError(f"{directory} is a gallery with {what} {have!r}, not {asked!r}")
        return g
    return Gallery(recognizer, index=index or "Flat", aggregation=aggregation or "max")  # type: ignore[arg-type]


def enroll_images(gallery: Gallery, name: str, images: Sequence[str | os.PathLike], face: FaceChoice = None,
                  synth_views: int = 0) -> int:
    """Enroll every image for ``name``: all or nothing (the first bad image raises);
    ``synth_views`` extra templates per image from views synthesised at other yaws."""
    return gallery.enroll(name, [os.fspath(p) for p in images], face=face, synth_views=synth_views)


def enroll_folders(gallery: Gallery, root: str | os.PathLike, face: FaceChoice = None,
                   progress: bool = True, synth_views: int = 0) -> EnrollReport:
    """Enroll ``root/<name>/<image>`` for every sub-folder: one identity per folder name.

    Images that fail (unreadable, no face, several faces without ``face``) and folders whose
    name is not a valid identity are skipped and listed in the report; hidden files and
    folders are ignored.
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
            n = gallery.enroll(name, os.fspath(path), face=face, synth_views=synth_views)
        except ModelError:
            raise  # the gallery's model, not this image: skipping would repeat it for every image
        except (FacerecError, ValueError) as exc:  # ImageError, NoFaceError, MultipleFacesError, bad --face
            report.skipped.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        report.enrolled[name] = report.enrolled.get(name, 0) + n
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
            rgb = load_image(data)
            crops += [rec.crop(rgb, c.landmarks(f)) for f in faces]
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
    or "largest"."""
    if value is None or value == "largest":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} takes an index or 'largest', not {value!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="add people to a gallery",
                       description="Enroll NAME from one or more photos (exactly one face each, or pick one "
                                   "with --face), every sub-folder of --folders ROOT as one person, or every "
                                   "face of a cluster found by 'facerec cluster' as NAME (--cluster DIR/ID). The "
                                   "gallery folder is created if needed and saved atomically.")
    p.add_argument("name", nargs="?", help="identity name (any text; stored as data, not as a file name)")
    p.add_argument("images", nargs="*", metavar="IMG", help="photos of NAME")
    p.add_argument("--gallery", required=True, metavar="DIR", help="gallery folder")
    p.add_argument("--folders", metavar="ROOT", help="bulk mode: ROOT/<name>/<images>; bad images are skipped "
                                                     "and reported")
    p.add_argument("--cluster", metavar="DIR/ID",
                   help="enroll every face of cluster ID of a 'facerec cluster --out DIR' run as NAME (aligned from "
                        "the recorded landmarks, no detection; a new gallery takes the cluster's model)")
    p.add_argument("--face", type=parse_face, metavar="INDEX|largest",
                   help="which face to take from photos with several (index: highest detector score first)")
    p.add_argument("--index", metavar="FACTORY",
                   help="FAISS index of a new gallery, e.g. Flat (exact, default), HNSW32, IVF1024,Flat")
    p.add_argument("--aggregation", choices=AGGREGATIONS,
                   help="score of a person with several photos, for a new gallery: max over photos "
                        "(default) or the mean template")
    p.add_argument("--synth-views", type=int, default=0, metavar="N",
                   help="also enroll N views of each photo re-rendered at other yaws (up to ±30°) on a generic "
                        "3D face: for people with a single photo (default: 0)")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cluster = None
    if args.cluster:
        if args.folders or args.images:
            raise ValueError("give either NAME --cluster DIR/ID or photos (NAME IMG... / --folders ROOT), not both")
        if not args.name:
            raise ValueError("give NAME with --cluster DIR/ID")
        if args.face is not None or args.synth_views:
            raise ValueError("--face and --synth-views apply to photos, not to --cluster")
        from .cluster import load_cluster

        cluster = load_cluster(args.cluster)
        if not args.model and not args.weights and current_version(args.gallery) is None and cluster.model_name:
            args.model = cluster.model_name  # a new gallery takes the cluster's model
    elif args.folders and (args.name or args.images):
        raise ValueError("give either NAME IMG... or --folders ROOT, not both")
    elif not args.folders and (not args.name or not args.images):
        raise ValueError("give NAME and at least one IMG (or --folders ROOT, or --cluster DIR/ID)")
    if args.synth_views < 0:
        raise ValueError(f"--synth-views must be >= 0, got {args.synth_views}")
    gallery = open_gallery(args.gallery, load_recognizer(args, gallery=args.gallery), index=args.index, aggregation=args.aggregation)
    if cluster is not None:
        report = enroll_cluster(gallery, args.name, cluster)
    elif args.folders:
        report = enroll_folders(gallery, args.folders, face=args.face, progress=not args.json,
                                synth_views=args.synth_views)
    else:
        report = EnrollReport({args.name: enroll_images(gallery, args.name, args.images, face=args.face,
                                                        synth_views=args.synth_views)})
    if report.enrolled:
        gallery.save(args.gallery)
    if args.json:
        emit_json({**report.to_dict(), "gallery": args.gallery, "identities": len(gallery)})
        return 0 if report.enrolled else 1
    for name, n in report.enrolled.items():
        what = "face(s) of cluster " + args.cluster if cluster is not None else (
            "template(s)" if args.synth_views else "photo(s)")
        print(f"enrolled {name}: {n} {what}")
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}")
    print(f"gallery {args.gallery}: {len(gallery)} identities, {gallery.num_templates} templates"
          + (f" ({len(report.skipped)} skipped)" if report.skipped else ""))
    return 0 if report.enrolled else 1
