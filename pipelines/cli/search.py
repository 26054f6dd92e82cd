"""``facerec search``: the command line of :mod:`pipelines.search` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse

from facerec.gallery import Gallery

from ..search import search_image
from .args import add_model_args, emit_json, load_recognizer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="who is in this photo? (search a gallery)",
                       description="Detect every face in IMG and rank the gallery's identities for each by "
                                   "cosine similarity; a face whose best score is below the threshold is "
                                   "reported as unknown.")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--gallery", required=True, metavar="DIR", help="gallery folder (made by facerec enroll)")
    p.add_argument("-k", type=int, default=5, help="candidates per face (default: 5)")
    p.add_argument("--threshold", type=float,
                   help="open-set threshold on the cosine score, accepted when score >= threshold (default: the "
                        "one saved with the gallery, else the model's open-set search threshold, calibrated so "
                        "that about 1e-4 of comparisons with strangers pass; see 'facerec models')")
    p.add_argument("--json", action="store_true", help="print JSON: {image, faces: [{identity, score, "
                                                       "threshold, matches, detection, quality}]}")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise ValueError(f"-k must be at least 1, got {args.k}")
    gallery = Gallery.load(args.gallery, load_recognizer(args, gallery=args.gallery))
    results = search_image(gallery, args.image, args.k, args.threshold)
    if args.json:
        emit_json({"image": args.image, "faces": [r.to_dict() for r in results]})
        return 0
    print(f"{len(results)} face(s) in {args.image}")
    for i, r in enumerate(results):
        box = ", ".join(f"{float(v):.0f}" for v in r.detection.box)
        thr = "none" if r.threshold is None else f"{r.threshold:.4f}"
        if r.best is None:
            verdict = "unknown (empty gallery)"
        elif r.known:
            verdict = f"{r.identity} (score {r.score:.4f}, threshold {thr})"
        else:
            verdict = f"unknown (best: {r.best.identity}, score {r.score:.4f} < threshold {thr})"
        q = f", {r.quality.describe()}" if r.quality is not None else ""
        print(f"  face {i} [{box}]: {verdict}{q}")
        for m in r.matches[1:]:
            print(f"      also: {m.identity} {m.score:.4f}")
    return 0
