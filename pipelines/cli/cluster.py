"""``facerec cluster``: the command line of :mod:`pipelines.cluster` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse
from pathlib import Path

from facerec.locking import file_lock

from ..cluster import INDEX_HTML, METHODS, cluster_photos, photo_count, plural
from .args import add_model_args, emit_json, load_recognizer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="group the faces of a photo library into people",
                       description="Detect and embed every face in PHOTOS (files, or folders walked recursively "
                                   "for images) and group the faces into people. Writes DIR/clusters.json, "
                                   "DIR/embeddings.npy, a thumbnail per face under DIR/faces and a contact sheet "
                                   "DIR/index.html. Faces are cached in DIR/cache by photo content and model: a "
                                   "rerun on a grown library embeds only the new photos and keeps the cluster "
                                   "ids of the people it already had. Name a cluster with "
                                   "'facerec enroll --gallery G NAME --cluster DIR/ID'.")
    p.add_argument("photos", nargs="+", metavar="PHOTOS", help="image files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; reused by reruns)")
    p.add_argument("--threshold", type=float,
                   help="cosine at which two faces count as the same person (default: the model's open-set "
                        "search threshold; see 'facerec models')")
    p.add_argument("--method", choices=METHODS, default="average",
                   help="average: average linkage (default; most precise); chinese_whispers: label "
                        "propagation; components: connected components of the kNN graph")
    p.add_argument("--min-size", type=int, default=1, metavar="N",
                   help="faces in clusters smaller than N are listed as unclustered (default: 1)")
    p.add_argument("--json", action="store_true", help="print a JSON summary (counts, cluster sizes, skipped "
                                                       "photos) instead of text")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rec = load_recognizer(args)
    # One run at a time per output folder: a run reads the previous clusters.json (to keep its
    # ids) and replaces it and faces/ whole; a second run waits instead of interleaving.
    with file_lock(Path(args.out) / ".lock", what=str(args.out)):
        report = cluster_photos(rec, args.photos, args.out, threshold=args.threshold, method=args.method,
                                min_size=args.min_size, progress=not args.json)
    if args.json:
        emit_json(report.summary_dict())
        return 0
    clusters = report.clusters()
    print(f"{plural(len(report.faces), 'face')} in {plural(report.photos, 'photo')} ({report.embedded_photos} embedded, "
          f"{report.cached_photos} cached, {len(report.photos_without_faces)} without faces): "
          f"{plural(len(clusters), 'cluster')}, {len(report.unclustered)} unclustered "
          f"(threshold {report.threshold:.4f}, {report.method})")
    for cid, faces in clusters[:10]:
        print(f"  cluster {cid}: {plural(len(faces), 'face')} in {plural(photo_count(faces), 'photo')}")
    if len(clusters) > 10:
        print(f"  ... {len(clusters) - 10} more")
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}")
    print(f"contact sheet: {report.out_dir / INDEX_HTML}")
    return 0
