"""The README's picture of ``facerec video``: one annotated frame of a synthetic clip.

    python -m benchmarks.video_figure [--scenario two_people] [--frame 60] [--out benchmarks/figures/video_annotated_frame.png]

Builds the clip with :mod:`benchmarks.video_clips` (ORL faces on a plain background, 640×480),
enrolls the 10-person ORL gallery the video benchmark uses, runs :func:`pipelines.video.process_video`
with ``--out`` (boxes and names drawn by the command itself) and saves frame ``--frame`` of the
annotated video as PNG.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2

from benchmarks.video_clips import SCENARIOS, enroll_gallery, make_clip
from facerec import FaceRecognizer
from pipelines.video import process_video


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", choices=SCENARIOS, default="two_people")
    ap.add_argument("--frame", type=int, default=60, help="which frame of the annotated video to save")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/figures/video_annotated_frame.png")
    args = ap.parse_args(argv)
    rec = FaceRecognizer.load()
    gallery = enroll_gallery(rec)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(args.scenario, tmp, (640, 480), args.frames)
        annotated = Path(tmp) / "annotated.mp4"
        report = process_video(rec, gallery, clip.path, out=annotated)
        cap = cv2.VideoCapture(str(annotated))
        cap.set(cv2.CAP_PROP_POS_FRAMES, args.frame)
        ok, frame = cap.read()
        cap.release()
        if not ok:
            raise SystemExit(f"could not read frame {args.frame} of {annotated}")
        cv2.imwrite(args.out, frame)
    people = ", ".join(p.label for p in report.people)
    print(f"wrote {args.out} (frame {args.frame} of {args.scenario}; people in the clip: {people})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
