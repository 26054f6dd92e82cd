"""Make the real-footage clips of :mod:`benchmarks.video_real` from their fetched sources.

    python -m benchmarks.make_video_clips --sources DIR [--out $FACEREC_VIDEOS_DIR]

``benchmarks/video_real.json`` lists the sources (openly licensed real videos pinned to a
commit, with sha256 and licence evidence) and each clip as segments ``[source, first, end, y0]``
(frames ``first..end-1`` of the source, rows ``y0..y0+crop_height``) joined with hard cuts and
scaled to the clip's size (Lanczos), written as mp4v at the first source's frame rate. The
enrolment photos (``enrol`` entries: a frame outside every test segment and a box around the
person) are written as PNG under ``OUT/enrol/NAME/``. Nothing is written inside the repository.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facerec.io.checksum import file_sha256

MANIFEST = Path(__file__).with_name("video_real.json")
VIDEOS_ENV = "FACEREC_VIDEOS_DIR"


def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` (BGR); the sources are short (≤ 521 frames of 640×480)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def check_sources(folder: Path, sources: dict[str, Any]) -> dict[str, Path]:
    """Each source file in ``folder``, its sha256 checked against the manifest."""
    out = {}
    for key, s in sources.items():
        p = folder / s["file"]
        if not p.is_file():
            raise SystemExit(f"{p}: missing (see {MANIFEST.name}'s fetch steps)")
        digest = file_sha256(p)
        if digest != s["sha256"]:
            raise SystemExit(f"{p}: sha256 {digest} differs from the manifest's {s['sha256']}")
        out[key] = p
    return out


def clip_frames(clip: dict[str, Any], frames: dict[str, list[np.ndarray]]) -> tuple[list[np.ndarray], list[int]]:
    """The clip's frames and the indices where a new segment (a hard cut) starts."""
    w, h = clip["size"]
    ch = clip["crop_height"]
    out, cuts = [], []
    for src, first, end, y0 in clip["segments"]:
        cuts.append(len(out))
        for f in frames[src][first:end]:
            f = f[y0:y0 + ch]
            if f.shape[1] != w or f.shape[0] != h:
                f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LANCZOS4)
            out.append(f)
    return out, cuts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=Path, required=True, help="folder with the fetched source videos")
    ap.add_argument("--out", type=Path, default=os.environ.get(VIDEOS_ENV), help=f"output folder (${VIDEOS_ENV})")
    args = ap.parse_args(argv)
    if args.out is None:
        raise SystemExit(f"no output folder: set ${VIDEOS_ENV} or --out")
    m = manifest()
    paths = check_sources(args.sources, m["sources"])
    frames = {k: read_frames(p) for k, p in paths.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in m["clips"]:
        fps = float(m["sources"][clip["segments"][0][0]]["fps"])
        seq, cuts = clip_frames(clip, frames)
        path = args.out / f"{clip['name']}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, tuple(clip["size"]))
        for f in seq:
            writer.write(f)
        writer.release()
        print(f"{path}: {len(seq)} frames {clip['size'][0]}x{clip['size'][1]}, cuts at {cuts[1:]}")
    for e in m.get("enrol", []):
        x1, y1, x2, y2 = e["box"]
        crop = frames[e["source"]][e["frame"]][y1:y2, x1:x2]
        d = args.out / "enrol" / e["name"]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{e['source']}_{e['frame']:04d}.png"), crop)
    print(f"{args.out / 'enrol'}: {len(m.get('enrol', []))} enrolment photos")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
