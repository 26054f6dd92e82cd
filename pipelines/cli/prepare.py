"""``facerec prepare``: the command line of :mod:`pipelines.prepare` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse
import os

from facerec.alignment import TEMPLATES

from ..prepare import FORMATS, JPEG_QUALITY, PrepareOptions, prepare, summary_line
from .args import add_detector_args, detector_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="detect and align a folder-per-identity photo tree into crops",
                       description="Detect (MTCNN) and align every image of SRC/<identity>/<photo> into an "
                                   "aligned crop at the same relative path under DST. Resumable; writes "
                                   "DST/prepare_report.json listing images with no face, several faces "
                                   "(the largest is kept) or that could not be read.")
    p.add_argument("src", help="folder of identity folders of photos")
    p.add_argument("dst", help="output folder (created)")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                   help="parallel processes, each with its own detector (default: number of CPUs)")
    p.add_argument("--template", default="arcface_112", choices=sorted(TEMPLATES),
                   help="alignment template (default: arcface_112, 112x112)")
    p.add_argument("--format", dest="image_format", default="png", choices=sorted(FORMATS),
                   help=f"output format: lossless png or jpg at quality {JPEG_QUALITY} (default: png)")
    p.add_argument("--fallback-center", action="store_true",
                   help="when no face is found, align a fixed centre crop instead of skipping the image "
                        "(for photos that are already roughly face-centred)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_detector_args(p, runtime=False)  # MTCNN on onnxruntime when shipped (see _init_worker)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    opts = PrepareOptions(template=args.template, image_format=args.image_format,
                          fallback_center=args.fallback_center, detector=detector_config(args),
                          detector_name=args.detector, detect_side=args.detect_size)
    report = prepare(args.src, args.dst, opts, workers=args.workers, progress=not args.no_progress)
    print(summary_line(report))
    return 0
