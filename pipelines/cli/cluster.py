"""``facerec cluster``: the command line of :mod:`pipelines.cluster` (arguments in, one workflow call, output).

Two forms share the command: ``facerec cluster PHOTOS... --out DIR`` clusters a library, and
``facerec cluster ACTION DIR ...`` (``name``, ``merge``, ``not``, ``move``, ``split``) corrects
it (:mod:`pipelines.cluster_corrections`). The ``cluster`` subparser takes its words as they
are and the form is chosen by the first one, each form then parsed by its own parser while
the command line is parsed (so errors and ``--help`` behave as for any command; a photo folder
literally named like an action is given as ``./name``).
"""
from __future__ import annotations

import argparse

from ..cluster import (INDEX_HTML, METHODS, MIN_QUALITY, ClusterReport, cluster_photos, library_lock, photo_count,
                       plural)
from .args import add_model_args, emit_json, load_recognizer

ACTIONS = ("name", "merge", "not", "move", "split")
CORRECTIONS = """corrections (kept in DIR/decisions.json; every later run applies them):
  facerec cluster name DIR ID NAME          cluster ID is NAME (a name already used merges the two)
  facerec cluster merge DIR ID OTHER_ID     the two clusters are one person
  facerec cluster not DIR ID/N              face N of cluster ID is not this person
  facerec cluster move DIR ID/N OTHER_ID    face N of cluster ID is the person of OTHER_ID
  facerec cluster split DIR ID N [N ...]    these faces of cluster ID are another person
A face is ID/N (the N-th thumbnail of cluster ID on the contact sheet) or its id HASH:INDEX."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    # No options of its own ("\0" prefix): every word goes to run(), which picks the form.
    p = sub.add_parser("cluster", help="group the faces of a photo library into people, and correct the groups",
                       prefix_chars="\0", add_help=False)
    p.add_argument("words", nargs="*", action=_ParseForm)
    p.set_defaults(func=run)


class _ParseForm(argparse.Action):
    """Parses the words with the parser of their form into ``namespace.form``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        words = list(values)  # type: ignore[call-overload]
        form = corrections_parser() if words and words[0] in ACTIONS else photos_parser()
        namespace.form = form.parse_args(words)


def photos_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facerec cluster", usage="facerec cluster PHOTOS... --out DIR [options]\n"
                                      "       facerec cluster {name,merge,not,move,split} DIR ...",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CORRECTIONS,
        description="Detect and embed every face in PHOTOS (files, or folders walked recursively for images) and "
                    "group the faces into people. Writes DIR/clusters.json, DIR/embeddings.npy, a thumbnail per face "
                    "under DIR/faces and a contact sheet DIR/index.html. Faces are cached in DIR/cache by photo "
                    "content and model. A rerun is incremental: the people found before keep their faces and ids, "
                    "new faces join them by the same rule or form new clusters, and the corrections below are "
                    "applied. Two faces of one photo are never put in one cluster. Make a cluster a gallery "
                    "identity with 'facerec enroll --gallery G NAME --cluster DIR/ID'.")
    p.add_argument("photos", nargs="+", metavar="PHOTOS", help="image files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; reused by reruns)")
    p.add_argument("--threshold", type=float,
                   help="cosine at which two faces count as the same person (default: the model's open-set "
                        "search threshold; see 'facerec models')")
    p.add_argument("--method", choices=METHODS, default="average",
                   help="average: average linkage (default; most precise; the only one that takes corrections "
                        "and incremental reruns); chinese_whispers: label propagation; components: connected "
                        "components of the kNN graph")
    p.add_argument("--min-size", type=int, default=1, metavar="N",
                   help="faces in clusters smaller than N are listed as unclustered (default: 1)")
    p.add_argument("--min-quality", type=float, default=MIN_QUALITY, metavar="Q",
                   help="faces of quality below Q (facerec.quality.face_quality: sharpness x frontal pose x size, "
                        f"0..1) may join a cluster but never start or bridge one (default: {MIN_QUALITY}; 0 = off)")
    p.add_argument("--full", action="store_true",
                   help="re-cluster every face from scratch instead of keeping the previous clusters (the "
                        "corrections still apply)")
    p.add_argument("--json", action="store_true", help="print a JSON summary (counts, cluster sizes, skipped "
                                                       "photos) instead of text")
    add_model_args(p)
    return p


def corrections_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facerec cluster", description="Correct a 'facerec cluster' folder DIR.",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CORRECTIONS)
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    helps = {"name": "name a cluster", "merge": "merge two clusters (one person)",
             "not": "a face is not this cluster's person", "move": "move a face to another cluster",
             "split": "split a cluster in two people"}
    for action in ACTIONS:
        a = sub.add_parser(action, help=helps[action], description=helps[action] + ".",
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CORRECTIONS)
        a.add_argument("dir", metavar="DIR", help="the --out folder of a 'facerec cluster' run")
        if action == "name":
            a.add_argument("cluster", type=int, metavar="ID")
            a.add_argument("name", metavar="NAME")
        elif action == "merge":
            a.add_argument("cluster", type=int, metavar="ID")
            a.add_argument("other", type=int, metavar="OTHER_ID")
        elif action == "not":
            a.add_argument("face", metavar="FACE", help="ID/N or HASH:INDEX")
        elif action == "move":
            a.add_argument("face", metavar="FACE", help="ID/N or HASH:INDEX")
            a.add_argument("cluster", type=int, metavar="OTHER_ID")
        else:
            a.add_argument("cluster", type=int, metavar="ID")
            a.add_argument("faces", nargs="+", metavar="N", help="faces of cluster ID (N, ID/N or HASH:INDEX)")
        a.add_argument("--json", action="store_true", help="print the result and the new cluster sizes as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    form = args.form
    return run_correction(form) if getattr(form, "action", None) else run_photos(form)


def run_correction(args: argparse.Namespace) -> int:
    from .. import cluster_corrections as cc  # only this form needs it

    if args.action == "name":
        done = cc.name_cluster(args.dir, args.cluster, args.name)
    elif args.action == "merge":
        done = cc.merge_clusters(args.dir, args.cluster, args.other)
    elif args.action == "not":
        done = cc.not_this_person(args.dir, args.face)
    elif args.action == "move":
        done = cc.move_face(args.dir, args.face, args.cluster)
    else:
        done = cc.split_cluster(args.dir, args.cluster, args.faces)
    if args.json:
        emit_json({"result": done.message, **done.report.summary_dict()})
        return 0
    print(done.message)
    _print_clusters(done.report)
    return 0


def run_photos(args: argparse.Namespace) -> int:
    rec = load_recognizer(args)
    # One run at a time per output folder: a run reads the previous clusters.json and decisions
    # (to keep ids and corrections) and replaces clusters.json and faces/ whole; a second run, or
    # a correction, waits instead of interleaving (the lock is re-entrant with library_lock).
    with library_lock(args.out):
        report = cluster_photos(rec, args.photos, args.out, threshold=args.threshold, method=args.method,
                                min_size=args.min_size, progress=not args.json, full=args.full,
                                min_quality=args.min_quality)
    if args.json:
        emit_json(report.summary_dict())
        return 0
    clusters = report.clusters()
    print(f"{plural(len(report.faces), 'face')} in {plural(report.photos, 'photo')} ({report.embedded_photos} embedded, "
          f"{report.cached_photos} cached, {len(report.photos_without_faces)} without faces): "
          f"{plural(len(clusters), 'cluster')}, {len(report.unclustered)} unclustered "
          f"(threshold {report.threshold:.4f}, {report.method}"
          f"{', incremental' if report.incremental else ''}, {plural(report.decisions, 'decision')} applied)")
    _print_clusters(report)
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}")
    for msg in report.decisions_skipped:
        print(f"decision not applied: {msg}")
    return 0


def _print_clusters(report: ClusterReport) -> None:
    clusters = report.clusters()
    # Named clusters first (the people the user knows), then the biggest.
    shown = [c for c in clusters if c[0] in report.names][:10] + [c for c in clusters if c[0] not in report.names]
    for cid, faces in shown[:10]:
        name = f" {report.names[cid]}:" if cid in report.names else ":"
        print(f"  cluster {cid}{name} {plural(len(faces), 'face')} in {plural(photo_count(faces), 'photo')}")
    if len(clusters) > 10:
        print(f"  ... {len(clusters) - 10} more")
    print(f"contact sheet: {report.out_dir / INDEX_HTML}")
