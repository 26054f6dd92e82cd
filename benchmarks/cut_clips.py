"""Real footage with known shot transitions: openly licensed clips joined at known frames.

    python -m benchmarks.cut_clips --src DIR --out DIR          # the evaluation clips + truth
    python -m benchmarks.cut_clips --src DIR --ci tests/data/cuts_real.mp4   # the small CI clip

``--src`` holds the source files of :data:`SOURCES` (each checked against its sha256; the
``fetch`` steps are in ``tests/data/cuts_real.json``). Segments of real footage are cut from
them, centre-cropped to 16:9, scaled to 480×270, resampled to 12.5 fps by time and joined by a
hard cut, a cross-dissolve or a fade through black, so every transition's frames are known.
Nothing is synthetic but the joins themselves (and, for ``dark``, a brightness scale applied to
real frames to imitate an under-exposed shot).

Clips written (mp4, H.264 through the ``ffmpeg`` of the ``imageio-ffmpeg`` package when it is
installed, else OpenCV's mp4v) with ``NAME.json`` beside each: ``{"fps", "frames",
"transitions": [{"kind": "cut"|"dissolve"|"fade", "start", "end"}]}`` where a cut has
``start == end`` = the first frame of the new shot and a gradual transition spans its mixed
frames up to the first clean frame of the new shot.

* ``joined_hard``: 13 segments joined by hard cuts, among them hard cases: the same wall
  with another person at the same place (``head-pose-female`` → ``head-pose-male``), the same
  room (``face-demographics`` walking-and-pause → walking), jump cuts inside one forest path
  and one selfie video.
* ``joined_dark``: the same, every frame darkened (v → 0.25·v, plus sensor noise σ = 2).
* ``joined_fades``: the same segments, transitions in turn a 8-frame cross-dissolve, a
  fade through black (4 frames out, 4 in) and a hard cut.

The continuous sources (no edit, hard camera motion: whip pans, walking, a marathon) and
OpenMPF's ``scene_change.mp4`` (one fade through white, frames 14–21) are scored as they are.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from facerec.io.checksum import file_sha256

log = logging.getLogger(__name__)

FPS = 12.5
SIZE = (480, 270)

OPENMPF = ("openmpf/openmpf", "1f9b0dde560a6b284fb71e7cfb441b355ca9e404")
OPENMPF_COMPONENTS = ("openmpf/openmpf-components", "af580d7a5705e5665a52dfe55323cb6ce4f89032")
INTEL = ("intel-iot-devkit/sample-videos", "57978890822836f2b4743852f04f62fc511757e4")
_CC_BY2 = "CC-BY-2.0 (https://creativecommons.org/licenses/by/2.0/)"
_INTEL_ATTR = "Intel IoT devkit sample-videos, CC-BY-4.0 (repository LICENSE)"


@dataclass(frozen=True)
class Source:
    file: str
    repo: tuple[str, str]
    path: str
    sha256: str
    licence: str
    attribution: str


SOURCES: dict[str, Source] = {s.file: s for s in (
    Source("head-pose-face-detection-female.gif", INTEL, "preview/head-pose-face-detection-female.gif",
           "67646830ba9551b958f8a6ed4c83c32f5232e444bfba0f4c94386ee076b5d722", "CC-BY-4.0", _INTEL_ATTR),
    Source("head-pose-face-detection-male.gif", INTEL, "preview/head-pose-face-detection-male.gif",
           "0484de9f8f4eac5ada77313629a6cd258da4d065ade887a0633029b7ccb0ff89", "CC-BY-4.0", _INTEL_ATTR),
    Source("head-pose-face-detection-female-and-male.gif", INTEL,
           "preview/head-pose-face-detection-female-and-male.gif",
           "f51c743e43848014811ad5f3daddc417754cdeb55a16d46002e0d2ccd4541b0f", "CC-BY-4.0", _INTEL_ATTR),
    Source("face-demographics-walking-and-pause.gif", INTEL, "preview/face-demographics-walking-and-pause.gif",
           "6483ce22b1228ecc48f89b591cb99c09ba24e1468bdda5fbfebaae9bcca59dc8", "CC-BY-4.0", _INTEL_ATTR),
    Source("face-demographics-walking.gif", INTEL, "preview/face-demographics-walking.gif",
           "d85689169bdf1735b75c31b5cdf985f25a3fa92a6448e25f529f655002f22b3c", "CC-BY-4.0", _INTEL_ATTR),
    Source("classroom.gif", INTEL, "preview/classroom.gif",
           "9efb6cab2f7392aa3bd15320313db691cfc97270a37cd2b48791f3b032b69da8", "CC-BY-4.0", _INTEL_ATTR),
    Source("video_01.mp4", OPENMPF, "trunk/mpf-system-tests/src/test/resources/samples/face/video_01.mp4",
           "5eacf0a11d51413300ee0f4719b7ac7b52b47310a49320703c1d2639ebbc9fea", _CC_BY2,
           "Copyright 2012 Aaron \"tango\" Tang, https://www.flickr.com/photos/hahatango/7484510910"),
    Source("video_02.mp4", OPENMPF, "trunk/mpf-system-tests/src/test/resources/samples/person/video_02.mp4",
           "6d794a2d5be1645b605c61d89c26d00b4e326fea2cf62035d78ceda82539d32a", _CC_BY2,
           "Copyright 2009 Peter Stevens, https://www.flickr.com/photos/nordique/4094034478"),
    Source("new_face_video-90.mp4", OPENMPF, "trunk/workflow-manager/src/test/resources/samples/new_face_video-90.mp4",
           "c059a6fe6d6340bebc20eb8f2803317b6c9b57e7fcec60f4e352062a7b800be4", _CC_BY2,
           "Copyright 2012 Aaron \"tango\" Tang, https://www.flickr.com/photos/hahatango/7484448042 "
           "(OpenMPF's new_face_video, rotated)"),
    Source("five-second-marathon-clip.mkv", OPENMPF,
           "trunk/mpf-system-tests/src/test/resources/samples/motion/five-second-marathon-clip.mkv",
           "b807f7077e7b2a845ec1a2a9bb12712a050d0c54cc5cf0faeb1660111ad78c4d", "public domain (OpenMPF NOTICE)",
           "OpenMPF sample, public domain"),
    Source("scene_change.mp4", OPENMPF_COMPONENTS, "cpp/SceneChangeDetection/test/data/scene_change.mp4",
           "fda14eeef455e4f34ccd2232d9a16b55e4a322347cfa47e95b51583ee54aaa00",
           "CC-BY (YouTube Creative Commons Attribution licence, per OpenMPF's NOTICE)",
           "\"Stanley Cup riot 2011: Celebration turns to destruction\", https://www.youtube.com/watch?v=aP101Fflid0"),
)}

#: Continuous sources (no edit) scored as they are, with the transitions they contain.
CONTINUOUS: dict[str, list[dict]] = {
    "new_face_video-90.mp4": [],         # handheld selfie: whip pans, the phone handed over
    "video_02.mp4": [],                  # hikers walking towards the camera
    "five-second-marathon-clip.mkv": [],  # a crowd of runners
    "video_01.mp4": [],                  # a group posing, the camera moving
    # a fade through white: the first shot starts fading at 14, white at 18-19, the second shot clean from 21
    "scene_change.mp4": [{"kind": "fade", "start": 14, "end": 21}],
}

#: (source, first source frame, seconds) of the joined clips, in order.
SEGMENTS: list[tuple[str, int, float]] = [
    ("head-pose-face-detection-female.gif", 0, 1.8),
    ("head-pose-face-detection-male.gif", 0, 2.0),         # same wall, another person at the same place
    ("video_02.mp4", 0, 2.0),
    ("video_02.mp4", 300, 2.0),                            # jump cut: the same forest path later
    ("face-demographics-walking-and-pause.gif", 0, 2.0),
    ("face-demographics-walking.gif", 0, 2.0),            # same room
    ("new_face_video-90.mp4", 0, 2.0),
    ("new_face_video-90.mp4", 180, 2.0),                  # jump cut inside the selfie video
    ("classroom.gif", 0, 2.0),
    ("video_01.mp4", 0, 2.0),
    ("five-second-marathon-clip.mkv", 0, 2.0),
    ("head-pose-face-detection-male.gif", 30, 1.6),
    ("new_face_video-90.mp4", 400, 2.0),
]

#: The CI clip (tests/data/cuts_real.mp4): (source, first frame, seconds, transition into it).
CI_SEGMENTS: list[tuple[str, int, float, str]] = [
    ("head-pose-face-detection-female.gif", 0, 1.84, ""),
    ("head-pose-face-detection-male.gif", 0, 2.4, "cut"),   # the case: someone else, same place
    ("face-demographics-walking-and-pause.gif", 0, 2.0, "dissolve"),
    ("video_01.mp4", 0, 1.6, "cut"),
    ("new_face_video-90.mp4", 0, 2.0, "fade"),
]
DISSOLVE_FRAMES = 8
FADE_FRAMES = 4  # out, then as many in




def check_sources(src: Path, names: Sequence[str]) -> None:
    for n in names:
        p = src / n
        if not p.is_file():
            raise SystemExit(f"{p}: missing (see tests/data/cuts_real.json for where it comes from)")
        if file_sha256(p) != SOURCES[n].sha256:
            raise SystemExit(f"{p}: sha256 differs from the recorded one")


def to_frame(img: np.ndarray) -> np.ndarray:
    """Centre crop to 16:9, scale to :data:`SIZE` (BGR uint8)."""
    h, w = img.shape[:2]
    if w * 9 > h * 16:
        cw = h * 16 // 9
        img = img[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = w * 9 // 16
        img = img[(h - ch) // 2:(h - ch) // 2 + ch]
    return cv2.resize(img, SIZE, interpolation=cv2.INTER_AREA)


def read_segment(path: Path, first: int, seconds: float) -> list[np.ndarray]:
    """``seconds`` of ``path`` from source frame ``first``, resampled to :data:`FPS` by time."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or FPS
    frames = []
    ok = True
    while ok:
        ok, fr = cap.read()
        if ok:
            frames.append(fr)
    cap.release()
    n = int(round(seconds * FPS))
    out = []
    for i in range(n):
        k = first + int(round(i * fps / FPS))
        if k >= len(frames):
            break
        out.append(to_frame(frames[k]))
    return out


def join(segments: Sequence[list[np.ndarray]], kinds: Sequence[str]) -> tuple[list[np.ndarray], list[dict]]:
    """Frames of ``segments`` joined by ``kinds[i]`` before segment i (i ≥ 1); the truth."""
    out: list[np.ndarray] = list(segments[0])
    truth = []
    for seg, kind in zip(segments[1:], kinds[1:]):
        if kind == "cut":
            truth.append({"kind": "cut", "start": len(out), "end": len(out)})
            out += seg
        elif kind == "dissolve":
            # The last DISSOLVE_FRAMES of the outgoing shot blend into the first of the new one.
            tail, head = out[-DISSOLVE_FRAMES:], seg[:DISSOLVE_FRAMES]
            start = len(out) - DISSOLVE_FRAMES
            del out[-DISSOLVE_FRAMES:]
            for i, (a, b) in enumerate(zip(tail, head)):
                w = (i + 1) / (DISSOLVE_FRAMES + 1)
                out.append(cv2.addWeighted(a, 1 - w, b, w, 0))
            truth.append({"kind": "dissolve", "start": start, "end": len(out)})
            out += seg[DISSOLVE_FRAMES:]
        elif kind == "fade":
            start = len(out) - FADE_FRAMES
            for i in range(FADE_FRAMES):  # out: the last frames darken to black
                j = start + i
                out[j] = (out[j].astype(np.float32) * (1 - (i + 1) / FADE_FRAMES)).astype(np.uint8)
            for i in range(FADE_FRAMES):  # in: the first frames of the new shot brighten
                seg[i] = (seg[i].astype(np.float32) * (i / FADE_FRAMES)).astype(np.uint8)
            truth.append({"kind": "fade", "start": start, "end": len(out) + FADE_FRAMES})
            out += seg
        else:
            raise ValueError(kind)
    return out, truth


def ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        return shutil.which("ffmpeg")


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float = FPS, crf: int = 18) -> str:
    """H.264 (yuv420p, no audio) when an ffmpeg is there, else mp4v; returns the command used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exe = ffmpeg_exe()
    h, w = frames[0].shape[:2]
    if exe is not None:
        cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
               "-r", str(fps), "-i", "-", "-an", "-c:v", "libx264", "-preset", "veryslow", "-crf", str(crf),
               "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-map_metadata", "-1",
               "-fflags", "+bitexact", "-flags:v", "+bitexact", str(path)]
        subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames), check=True)
        return " ".join(["ffmpeg", *cmd[1:-1], path.name])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return "cv2.VideoWriter mp4v"


def dark(frames: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f.astype(np.float32) * 0.25 + rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8) for f in frames]


def build_eval(src: Path, out: Path) -> list[Path]:
    check_sources(src, sorted({s for s, _, _ in SEGMENTS}))
    segs = [read_segment(src / s, first, sec) for s, first, sec in SEGMENTS]
    made = []
    cycle = ["dissolve", "fade", "cut"]
    variants = {
        "joined_hard": (segs, ["cut"] * len(segs), False),
        "joined_dark": (segs, ["cut"] * len(segs), True),
        "joined_fades": (segs, [cycle[i % 3] for i in range(len(segs))], False),
    }
    for name, (ss, kinds, is_dark) in variants.items():
        frames, truth = join([list(s) for s in ss], kinds)
        if is_dark:
            frames = dark(frames)
        path = out / f"{name}.mp4"
        cmd = write_video(path, frames)
        (out / f"{name}.json").write_text(json.dumps(
            {"fps": FPS, "frames": len(frames), "transitions": truth, "segments": SEGMENTS, "encoder": cmd,
             "sha256": file_sha256(path)}, indent=1))
        made.append(path)
        log.info("%s: %d frames, %d transitions", path, len(frames), len(truth))
    return made


def build_ci(src: Path, path: Path) -> dict:
    """The small clip the test suite runs (tests/data/cuts_real.mp4) and its truth."""
    check_sources(src, sorted({s for s, _, _, _ in CI_SEGMENTS}))
    segs = [read_segment(src / s, first, sec) for s, first, sec, _ in CI_SEGMENTS]
    frames, truth = join(segs, [k for *_, k in CI_SEGMENTS])
    cmd = write_video(path, frames, crf=26)
    return {"fps": FPS, "frames": len(frames), "size": list(SIZE), "transitions": truth, "encoder": cmd,
            "sha256": file_sha256(path), "segments": [list(s) for s in CI_SEGMENTS]}


def iter_frames(path: Path) -> Iterator[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, fr = cap.read()
            if not ok:
                return
            yield fr
    finally:
        cap.release()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, required=True, help="folder with the source files (SOURCES)")
    p.add_argument("--out", type=Path, help="write the evaluation clips here")
    p.add_argument("--ci", type=Path, help="write the CI clip to this path (and its truth beside it)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.out:
        build_eval(args.src, args.out)
    if args.ci:
        info = build_ci(args.src, args.ci)
        print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
