"""``facerec frontalize``: the command line of :mod:`pipelines.frontalize` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse

from ..frontalize import DEFAULT_YAWS, frontalize_photo
from .args import add_detector_args, make_detector


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frontalize", help="picture of a face's frontal view and synthesised poses",
                       description="Detect the face nearest the photo's centre, estimate its head pose from the "
                                   "5 landmarks, and draw a grid: the input, the aligned crop, its frontal view "
                                   "(hidden parts filled by symmetry) and the face re-rendered at other yaws, "
                                   "all on a generic 3D face.")
    p.add_argument("image", metavar="PHOTO")
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the grid image")
    p.add_argument("--yaws", type=float, nargs="+", default=list(DEFAULT_YAWS), metavar="DEG",
                   help="yaws of the synthesised views, degrees (default: %(default)s)")
    add_detector_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if any(abs(y) > 60 for y in args.yaws):
        raise ValueError("--yaws must lie in [-60, 60] degrees")
    fig = frontalize_photo(args.image, make_detector(args), args.out, args.yaws)
    print(f"head pose: yaw {fig.pose.yaw:+.1f}°, pitch {fig.pose.pitch:+.1f}°, roll {fig.pose.roll:+.1f}°; "
          f"wrote {args.out}")
    return 0
