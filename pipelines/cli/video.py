"""``facerec video``: the command line of :mod:`pipelines.video` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse
import os
import sys

import cv2

from ..video import (
    DEFAULT_DETECT_EVERY,
    DEFAULT_DETECT_WIDTH,
    VideoError,
    EventLog,
    is_stream,
    check_video_file,
    parse_source,
    print_summary,
    process_video,
)
from facerec.tracking import CUT_METHODS

from .args import add_model_args, load_recognizer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="who appears in a video, and when (track and identify faces)",
                       description="Track every face in a video file, camera or stream and identify each track "
                                   "against a gallery from a few of its best frames. Prints a per-person summary "
                                   "of time intervals; --json writes events as JSON Lines while it runs.")
    p.add_argument("source", metavar="SOURCE", help="video file, camera index (0) or stream URL")
    p.add_argument("--gallery", required=True, metavar="DIR", help="gallery folder (made by facerec enroll)")
    p.add_argument("--out", metavar="MP4", help="write the video with boxes and names drawn (mp4v)")
    p.add_argument("--json", metavar="JSONL", dest="events",
                   help="write events (appeared / identified / left, then a summary) as JSON Lines, as they happen")
    p.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="N",
                   help=f"run the detector every N frames and on scene cuts; boxes are predicted in between "
                        f"(default: {DEFAULT_DETECT_EVERY})")
    p.add_argument("--detect-width", type=int, default=DEFAULT_DETECT_WIDTH, metavar="PX",
                   help="detect on a copy of the frame this wide (longest side; --detect-size does the same); "
                        "0: full size (default: sized to the source so that faces of --min-face pixels are found)")
    p.add_argument("--min-face", type=int, default=None, metavar="PX",
                   help="smallest face to find, in source pixels, when --detect-width is not given "
                        "(default: 40, or 1/18 of the frame height for large frames: 60 at 1080p)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--threshold", type=float,
                   help="open-set threshold on the cosine score (default: the gallery's, else the model's)")
    p.add_argument("--lost-timeout", type=float, default=2.0, metavar="SECONDS",
                   help="a face unseen this long has left (default: 2.0)")
    p.add_argument("--cuts", choices=CUT_METHODS, default="hsv",
                   help="shot-cut rule; at a cut every track ends: hsv (HSV-histogram spike, default), grey (the "
                        "old grey-thumbnail rule), content (PySceneDetect, optional package) or off")
    p.add_argument("--identity-guard", action=argparse.BooleanOptionalAction, default=True,
                   help="re-verify named tracks (box jumps, after a loss, every 2 s) and split a track whose face "
                        "contradicts its name (default: on)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar with time left for files (default: when stderr is a terminal)")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facerec.gallery import Gallery

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own complaints: ours are one line
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # e.g. V4L warnings for a missing camera
    source = parse_source(args.source)
    if not is_stream(source):
        try:
            check_video_file(source)  # before loading the model: a wrong file fails fast
        except VideoError as exc:
            if args.events:
                log_ = EventLog(args.events)
                log_.write({"event": "error", "message": str(exc), "frame": 0})
                log_.close()
            raise
    gallery = Gallery.load(args.gallery, load_recognizer(args, gallery=args.gallery))
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        report = process_video(gallery.recognizer, gallery, source, detect_every=args.detect_every,
                               detect_width=args.detect_width, min_face=args.min_face, out=args.out, events=args.events,
                               max_frames=args.max_frames, threshold=args.threshold,
                               lost_timeout_s=args.lost_timeout, cut_detector=args.cuts,
                               identity_guard=args.identity_guard, progress=progress)
    except VideoError as exc:
        partial = getattr(exc, "report", None)
        if partial is not None and partial.frames:
            print_summary(partial)  # what was found before the file broke off
        raise
    print_summary(report)
    return 0
