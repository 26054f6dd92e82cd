"""``facerec detect``: the command line of :mod:`pipelines.detect` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse

from ..detect import detect_faces, draw_detections
from .args import add_detector_args, emit_json, make_detector


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find faces: boxes, scores, 5 landmarks",
                       description="Detect faces (a named detector, --detector) and print, for each, its box "
                                   "(x1 y1 x2 y2), score and 5 landmarks (eyes, nose, mouth corners) in the "
                                   "image's pixels.")
    p.add_argument("image", help="image file (JPEG, PNG, ... any mode; EXIF rotation applied)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--annotate", metavar="OUT", help="also write a copy of the image with the faces drawn")
    add_detector_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dets = detect_faces(args.image, make_detector(args))
    if args.annotate:
        draw_detections(args.image, dets, args.annotate)
    if args.json:
        emit_json({"image": args.image, "faces": [d.to_dict() for d in dets]})
    else:
        print(f"{len(dets)} face(s) in {args.image}")
        for i, d in enumerate(dets):
            x1, y1, x2, y2 = (float(v) for v in d.box)
            lms = "  ".join(f"({x:.1f}, {y:.1f})" for x, y in d.landmarks)
            print(f"  face {i}: box=({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}) score={d.score:.4f}")
            print(f"          landmarks (l-eye, r-eye, nose, l-mouth, r-mouth): {lms}")
        if args.annotate:
            print(f"annotated image written to {args.annotate}")
    return 0
