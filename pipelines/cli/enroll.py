"""``facerec enroll``: the command line of :mod:`pipelines.enroll` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse

from facerec.gallery import AGGREGATIONS
from facerec.gallery.storage import gallery_write_lock

from ..enroll import (
    EnrollReport,
    QualityGate,
    enroll_cluster,
    enroll_folders,
    enroll_images,
    open_gallery,
    parse_face,
)
from .args import add_model_args, emit_json, load_recognizer


def _face(value: str) -> object:
    """``--face`` for argparse: :func:`pipelines.enroll.parse_face`'s message on a bad value."""
    try:
        return parse_face(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    p.add_argument("--face", type=_face, metavar="INDEX|largest",
                   help="which face to take from photos with several (index: highest detector score first)")
    p.add_argument("--index", metavar="FACTORY",
                   help="FAISS index of a new gallery, e.g. Flat (exact, default), HNSW32, IVF1024,Flat")
    p.add_argument("--aggregation", choices=AGGREGATIONS,
                   help="score of a person with several photos, for a new gallery: max over photos "
                        "(default) or the mean template")
    p.add_argument("--synth-views", type=int, default=0, metavar="N",
                   help="also enroll N views of each photo re-rendered at other yaws (up to ±30°) on a generic "
                        "3D face: for people with a single photo (default: 0)")
    p.add_argument("--strict-quality", action="store_true",
                   help="refuse photos whose face quality is below the threshold (default: enroll them with a "
                        "warning saying why: too small, blurred, turned away)")
    p.add_argument("--min-quality", type=float, metavar="Q",
                   help="face quality threshold in [0, 1] for the warning and --strict-quality (default: the "
                        "calibrated one, see docs/quality.md)")
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
        from ..cluster import load_cluster

        cluster = load_cluster(args.cluster)
    elif args.folders and (args.name or args.images):
        raise ValueError("give either NAME IMG... or --folders ROOT, not both")
    elif not args.folders and (not args.name or not args.images):
        raise ValueError("give NAME and at least one IMG (or --folders ROOT, or --cluster DIR/ID)")
    if args.synth_views < 0:
        raise ValueError(f"--synth-views must be >= 0, got {args.synth_views}")
    if args.min_quality is not None and not 0.0 <= args.min_quality <= 1.0:
        raise ValueError(f"--min-quality must be in [0, 1], got {args.min_quality}")
    if cluster is not None and (args.strict_quality or args.min_quality is not None):
        raise ValueError("--strict-quality and --min-quality apply to photos, not to --cluster")
    gate = QualityGate(args.min_quality, strict=args.strict_quality)
    # A gallery not saved yet takes the cluster's model (the recorded model of choose_model's rule).
    recognizer = load_recognizer(args, gallery=args.gallery, recorded=cluster.model_name if cluster else None)
    # Load, enroll and save under the gallery's write lock: another writer (a second
    # 'facerec enroll', the service, a script) saving in between would otherwise be overwritten.
    with gallery_write_lock(args.gallery):
        gallery = open_gallery(args.gallery, recognizer, index=args.index, aggregation=args.aggregation)
        if cluster is not None:
            report = enroll_cluster(gallery, args.name, cluster)
        elif args.folders:
            report = enroll_folders(gallery, args.folders, face=args.face, progress=not args.json,
                                    synth_views=args.synth_views, gate=gate)
        else:
            report = EnrollReport({args.name: enroll_images(gallery, args.name, args.images, face=args.face,
                                                            synth_views=args.synth_views, gate=gate)},
                                  warnings=gate.warnings)
        if report.enrolled:
            gallery.save(args.gallery)
    if args.json:
        emit_json({**report.to_dict(), "gallery": args.gallery, "identities": len(gallery)})
        return 0 if report.enrolled else 1
    for w in report.warnings:
        why = ", ".join(map(str, w["reasons"])) or "poor overall"  # type: ignore[call-overload]
        print(f"warning: {w['path']}: low face quality {w['quality']:.2f} < {w['min_quality']:.2f} ({why}): "
              "wrong matches are likely; enroll a sharper, larger, frontal photo (--strict-quality refuses such photos)")
    for name, n in report.enrolled.items():
        what = "face(s) of cluster " + args.cluster if cluster is not None else (
            "template(s)" if args.synth_views else "photo(s)")
        print(f"enrolled {name}: {n} {what}")
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}")
    print(f"gallery {args.gallery}: {len(gallery)} identities, {gallery.num_templates} templates"
          + (f" ({len(report.skipped)} skipped)" if report.skipped else ""))
    return 0 if report.enrolled else 1
