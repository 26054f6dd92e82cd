"""The workflow behind ``facerec video SOURCE --gallery DIR`` (its command line: :mod:`pipelines.cli.video`):
Who appears in a video, and when.

SOURCE is a video file, a camera index (``0``) or a stream URL, read with OpenCV. Faces are
detected every ``--detect-every`` frames (and on every scene cut) on a copy of the frame sized
by the library's detection rule for video (:meth:`facerec.detection.bounded.BoundedDetector.for_frames`:
a face of 40 source pixels, 60 in 1080p, is as large in the copy as the smallest face the
detector finds; ``--detect-width`` fixes the size instead), tracked in between with :class:`facerec.tracking.FaceTracker`
(constant-velocity prediction, IoU + Hungarian matching, appearance only where boxes overlap),
and each track is identified from a few of its best crops, not every frame. At a shot cut
(an HSV-histogram spike, :class:`facerec.tracking.SceneCutDetector`) every track ends; a named
track is re-verified when its box jumps, after it was lost and every ``refresh_s``, and split
when the face on it contradicts its name (the identity guard).

:func:`process_video` is the workflow (the CLI calls it; the service could too): events go to
a JSON Lines file as they happen (a header line with the format version, then ``appeared`` /
``identified`` / ``left``, then ``summary``, or ``error``; :func:`read_events`), an annotated copy to an mp4, and a :class:`VideoReport` comes back.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Sequence, Union

import cv2
import numpy as np

from facerec import FacerecError
from facerec.errors import AlignmentError
from facerec.tracking import (
    UNKNOWN,
    FaceTracker,
    SceneCutDetector,
    TrackerConfig,
    TrackEvent,
    TrackView,
)

if TYPE_CHECKING:
    from facerec.detection.bounded import BoundedDetector
    from facerec.gallery import GalleryBase
    from facerec.recognizer import FaceRecognizer

log = logging.getLogger(__name__)

Source = Union[str, int, os.PathLike]
#: Called after each frame with its index and the visible tracks (benchmarks, previews).
FrameCallback = Callable[[int, list[TrackView]], None]

# Real footage (benchmarks/video_real.py): faces >= 40 px named right in 95-99 % of labelled frames
# at N=2 against 85-90 % at N=5 (a new face waits for its detection passes), at 65-72 frames/s of
# one core at 640x360/640x480 and 35 at 1920x1080 (CPU time); benchmarks/results/video_real.json.
DEFAULT_DETECT_EVERY = 2
#: None: the detection copy is sized to the source (:meth:`BoundedDetector.for_frames`);
#: benchmarks/video_real.py measured recall by face size against cost for the choices.
DEFAULT_DETECT_WIDTH: int | None = None
FALLBACK_FPS = 25.0        # for sources that do not say (cameras, some streams)

# File signatures. Video containers are accepted as they are; images and text are refused
# before OpenCV sees them, because FFmpeg happily "plays" a JPEG as a one-frame video and a
# text file as ANSI art.
_VIDEO_MAGIC = ((4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"), (4, b"skip"),
                (0, b"\x1a\x45\xdf\xa3"), (0, b"FLV"), (0, b"OggS"), (0, b"YUV4MPEG2"), (0, b"\x00\x00\x01\xba"),
                (0, b"\x00\x00\x01\xb3"), (0, b"\x30\x26\xb2\x75"), (0, b"#EXTM3U"))
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"GIF8", "a GIF image"),
                (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
                (b"P5", "a PGM image"), (b"P6", "a PPM image"), (b"\x00\x00\x01\x00", "an ICO image"))


class VideoError(FacerecError):
    """A video source cannot be opened or read: missing, not a video, truncated or corrupt,
    or a camera that does not exist."""


# -- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """One stretch of time a person was on screen (one track, or tracks merged across a short gap)."""

    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    confidence: float | None
    tracks: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"appeared": round(self.start_s, 3), "left": round(self.end_s, 3), "first_frame": self.start_frame,
                "last_frame": self.end_frame,
                "confidence": None if self.confidence is None else round(self.confidence, 4),
                "tracks": list(self.tracks)}


@dataclass(frozen=True)
class PersonSummary:
    """When one person was seen; unknown people are one entry per track (``unknown #ID``)."""

    label: str
    identity: str | None
    intervals: tuple[Interval, ...]

    @property
    def seconds(self) -> float:
        return sum(i.end_s - i.start_s for i in self.intervals)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "identity": self.identity, "seconds": round(self.seconds, 3),
                "intervals": [i.to_dict() for i in self.intervals]}


@dataclass
class VideoReport:
    """What :func:`process_video` found and what it cost."""

    source: str
    width: int
    height: int
    fps: float                      # the source's frame rate (FALLBACK_FPS if it did not say)
    frames: int = 0                 # frames processed
    total_frames: int | None = None  # frames the file claims (None for cameras and streams)
    detections_run: int = 0         # detector passes
    embeddings: int = 0             # crops embedded
    wall_s: float = 0.0
    cpu_s: float = 0.0              # process CPU time (free of other jobs' load on a shared machine)
    events: list[dict[str, Any]] = field(default_factory=list)
    people: list[PersonSummary] = field(default_factory=list)
    error: str | None = None

    @property
    def processing_fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def summary_dict(self) -> dict[str, Any]:
        return {"event": "summary", "source": self.source, "frames": self.frames, "fps": self.fps,
                "duration_s": round(self.frames / self.fps, 3) if self.fps else None,
                "width": self.width, "height": self.height, "detections_run": self.detections_run,
                "embeddings": self.embeddings, "processing_fps": round(self.processing_fps, 2),
                "people": [p.to_dict() for p in self.people]}


# -- sources ----------------------------------------------------------------------------------
def parse_source(text: str | int | os.PathLike) -> Source:
    """A camera index for an integer (``"0"``), else the path or URL unchanged."""
    if isinstance(text, int):
        return text
    s = os.fspath(text)
    return int(s) if s.strip().isdigit() else s


def is_stream(source: Source) -> bool:
    return isinstance(source, int) or "://" in str(source)


def check_video_file(path: str | os.PathLike) -> None:
    """Refuse what is not a video file before OpenCV tries it: missing files, folders,
    empty files, images and text (:class:`VideoError` naming the problem)."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a directory, not a video")
    with open(p, "rb") as f:
        head = f.read(4096)
    if not head:
        raise VideoError(f"{p}: empty file")
    riff_avi = head[:4] == b"RIFF" and head[8:12] == b"AVI "
    if riff_avi or any(head[off:off + len(sig)] == sig for off, sig in _VIDEO_MAGIC):
        return
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        raise VideoError(f"{p}: is a WebP image, not a video (use facerec search for photos)")
    for sig, what in _IMAGE_MAGIC:
        if head.startswith(sig):
            raise VideoError(f"{p}: is {what}, not a video (use facerec search for photos)")
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not merely a multi-byte character cut at the end
                return
        raise VideoError(f"{p}: is a text file, not a video")


@dataclass
class _Capture:
    cap: Any  # cv2.VideoCapture
    name: str
    stream: bool
    fps: float
    total: int | None


def open_video(source: Source) -> _Capture:
    """An opened ``cv2.VideoCapture`` for a file, camera index or URL; :class:`VideoError`
    when it cannot be opened."""
    source = parse_source(source)
    stream = is_stream(source)
    name = f"camera {source}" if isinstance(source, int) else str(source)
    if not stream:
        check_video_file(source)
    cap = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not cap.isOpened():
        cap.release()
        if isinstance(source, int):
            raise VideoError(f"{name}: cannot open the camera (no such device, or it is busy)")
        if stream:
            raise VideoError(f"{name}: cannot open the stream")
        raise VideoError(f"{name}: cannot open the video (truncated or corrupt file, or an unsupported format)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    fps = fps if np.isfinite(fps) and 1.0 <= fps <= 1000.0 else FALLBACK_FPS
    total = None
    if not stream:
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        total = int(count) if np.isfinite(count) and 0 < count < 1e9 else None
    return _Capture(cap, name, stream, fps, total)


# -- drawing ----------------------------------------------------------------------------------
_COLOURS = {"known": (60, 200, 60), "unknown": (40, 40, 230), "pending": (0, 200, 230)}  # BGR


def draw_tracks(frame: np.ndarray, views: Sequence[TrackView]) -> np.ndarray:
    """Boxes and names on ``frame`` (BGR, drawn in place; returned for convenience)."""
    h = frame.shape[0]
    thick = max(1, h // 360)
    scale = max(0.4, h / 900)
    for v in views:
        kind = "pending" if v.label == "?" else "unknown" if v.identity is None else "known"
        colour = _COLOURS[kind]
        x1, y1, x2, y2 = (int(round(float(c))) for c in v.box)
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, thick if v.confirmed else 1)
        text = v.label if v.score is None else f"{v.label} {v.score:.2f}"
        text = f"#{v.track_id} {text}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(th + base, y1)
        cv2.rectangle(frame, (x1, ty - th - base), (x1 + tw, ty), colour, -1)
        cv2.putText(frame, text, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return frame


# -- the workflow -----------------------------------------------------------------------------
#: The first line of every events file: what it is and its format version (:func:`read_events`).
EVENTS_HEADER = {"format": "facerec.video_events", "version": 1}


class EventLog:
    """Events as JSON Lines after an :data:`EVENTS_HEADER` line, flushed one by one (a crash or
    a kill keeps what was found)."""

    def __init__(self, sink: str | os.PathLike | IO[str] | None) -> None:
        self._own = sink is not None and not hasattr(sink, "write")
        self._f: IO[str] | None = open(sink, "w", encoding="utf-8") if self._own else sink  # type: ignore[arg-type]
        self.records: list[dict[str, Any]] = []
        if self._f is not None:
            self._f.write(json.dumps(EVENTS_HEADER) + "\n")

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self._f is not None:
            self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._f.flush()

    def close(self) -> None:
        if self._own and self._f is not None:
            self._f.close()


def read_events(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The event records of an events file (header checked, not returned); ValueError for a
    file that is not one, or one of a newer format version."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0]) if lines else {}
    if not isinstance(head, dict) or head.get("format") != EVENTS_HEADER["format"]:
        raise ValueError(f"{path}: not a facerec video events file (no {EVENTS_HEADER['format']} header line)")
    if not isinstance(head.get("version"), int) or head["version"] > EVENTS_HEADER["version"]:
        raise ValueError(f"{path}: events format version {head.get('version')!r}; this facerec reads "
                         f"version {EVENTS_HEADER['version']} (upgrade facerec)")
    return [json.loads(line) for line in lines[1:] if line.strip()]


def _summarise(events: Sequence[dict[str, Any]], merge_gap_s: float) -> list[PersonSummary]:
    """Per person, the intervals of their tracks (same name: merged across gaps up to
    ``merge_gap_s``); each unknown track is its own person."""
    spans: dict[int, dict[str, Any]] = {}
    for e in events:
        if e["event"] == "appeared":
            spans[e["track"]] = dict(start_s=e["time"], start_frame=e["frame"], end_s=e["time"], end_frame=e["frame"])
        span = spans.get(e.get("track", -1))
        if span is None:
            continue
        if e["event"] in ("identified", "left"):
            span.update(identity=e["identity"], label=e["label"], confidence=e["confidence"])
        if e["event"] == "left":
            span.update(end_s=e["time"], end_frame=e["frame"])
    by_person: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for tid, s in sorted(spans.items()):
        ident = s.get("identity")
        key = ident if ident is not None else f"{s.get('label', UNKNOWN)} #{tid}"
        by_person.setdefault(key, []).append((tid, s))
    people = []
    for key, items in by_person.items():
        items.sort(key=lambda it: it[1]["start_s"])
        merged: list[Interval] = []
        for tid, s in items:
            iv = Interval(s["start_s"], s["end_s"], s["start_frame"], s["end_frame"], s.get("confidence"), (tid,))
            if merged and iv.start_s - merged[-1].end_s <= merge_gap_s:
                last = merged[-1]
                conf = [c for c in (last.confidence, iv.confidence) if c is not None]
                merged[-1] = Interval(last.start_s, max(last.end_s, iv.end_s), last.start_frame,
                                      max(last.end_frame, iv.end_frame), max(conf) if conf else None,
                                      last.tracks + iv.tracks)
            else:
                merged.append(iv)
        people.append(PersonSummary(key, items[0][1].get("identity"), tuple(merged)))
    people.sort(key=lambda p: p.intervals[0].start_s)
    return people


def frame_detector(recognizer: "FaceRecognizer", width: int, height: int,
                   detect_width: int | None = DEFAULT_DETECT_WIDTH, min_face: int | None = None) -> "BoundedDetector":
    """The recognizer's detector bounded for ``width`` × ``height`` frames: ``detect_width``
    fixes the copy's longest side (0: full size); None keeps a size fixed on the recognizer's
    detector (``--detect-size``), else sizes the copy to the source so that faces of
    ``min_face`` source pixels (default 40, 60 in 1080p) are found (:mod:`facerec.detection.bounded`)."""
    from facerec.detection.bounded import BoundedDetector, create_detector

    det = recognizer.detector
    if not isinstance(det, BoundedDetector):  # a bare detector handed in by the caller
        det = BoundedDetector(det, getattr(det, "name", "custom")) if det is not None else create_detector()
    if detect_width is None and min_face is None:
        detect_width = det.detect_side
    return det.for_frames(width, height, detect_width, min_face)


def _detect(recognizer: "FaceRecognizer", rgb: np.ndarray,
            detector: "BoundedDetector | None" = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces of ``rgb`` found by ``detector`` (default: :func:`frame_detector` for this frame's
    size): (N, 4) boxes, (N, 5, 2) landmarks in full-frame pixels and (N, 112, 112, 3) crops
    aligned from the full frame."""
    if detector is None:
        detector = frame_detector(recognizer, rgb.shape[1], rgb.shape[0])
    boxes, lms, crops = [], [], []
    for d in detector.detect(rgb):
        lm = np.asarray(d.landmarks, dtype=np.float32)
        try:
            crop = recognizer.crop(rgb, lm)  # aligned at full resolution: the detail is there
        except AlignmentError:
            continue
        boxes.append(np.asarray(d.box, dtype=np.float32))
        lms.append(lm)
        crops.append(crop)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0, 1, 1, 3), np.uint8)
    return np.stack(boxes), np.stack(lms), np.stack(crops)


def tracker_config(fps: float, lost_timeout_s: float = 2.0, refresh_s: float = 2.0, **overrides: Any) -> TrackerConfig:
    """The tracker's settings for a source at ``fps``: durations converted to frames."""
    return TrackerConfig(max_lost_frames=max(1, round(lost_timeout_s * fps)),
                         refresh_frames=max(1, round(refresh_s * fps)), **overrides)


def process_video(recognizer: "FaceRecognizer", gallery: "GalleryBase", source: Source, *,
                  detect_every: int = DEFAULT_DETECT_EVERY, detect_width: int | None = DEFAULT_DETECT_WIDTH,
                  min_face: int | None = None,
                  out: str | os.PathLike | None = None,
                  events: str | os.PathLike | IO[str] | None = None, max_frames: int | None = None,
                  threshold: float | None = None, lost_timeout_s: float = 2.0, refresh_s: float = 2.0,
                  config: TrackerConfig | None = None, cut_threshold: float | None = None,
                  cut_detector: str = "hsv", identity_guard: bool = True, progress: bool = False,
                  on_frame: FrameCallback | None = None) -> VideoReport:
    """Track and identify every face in ``source`` against ``gallery``.

    ``recognizer``: a :class:`facerec.FaceRecognizer` (its detector, aligner and embedder);
    ``gallery``: a gallery attached to it (``search_embeddings``, ``threshold``).
    ``detect_every``: run the detector on every N-th frame (and on scene cuts), predict boxes
    in between; ``detect_width``: detect on a copy this wide (0: full size; None: sized to the
    source so that faces of ``min_face`` source pixels are found, :func:`frame_detector`).
    ``out``: annotated mp4 (mp4v); ``events``: JSON Lines path or text stream; ``threshold``
    overrides the gallery's open-set threshold; ``config`` overrides the tracker settings
    derived from ``lost_timeout_s``, ``refresh_s``, ``cut_detector`` (the shot-cut rule:
    ``"hsv"``, ``"grey"`` — the rule before issue 28 —, ``"content"`` or ``"off"``) and
    ``identity_guard`` (re-verify named tracks and split them when the face contradicts the
    name); ``cut_threshold`` overrides the cut rule's threshold.

    A file that stops decoding early (truncated, corrupt) raises :class:`VideoError` after
    the events so far, the tracks' ``left`` events, the summary and an ``error`` record were
    written (the report rides on the exception as ``.report``). A camera or stream that stops
    delivering frames ends normally.
    """
    if detect_every < 1:
        raise ValueError(f"detect_every must be at least 1, got {detect_every}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if detect_width is not None and detect_width != 0 and detect_width < 32:
        raise ValueError(f"detect_width must be 0 (full size) or at least 32 pixels, got {detect_width}")
    if min_face is not None and min_face < 1:
        raise ValueError(f"min_face must be at least 1 pixel, got {min_face}")
    log_ = EventLog(events)
    try:
        cap = open_video(source)
    except VideoError as exc:
        log_.write({"event": "error", "message": str(exc), "frame": 0})
        log_.close()
        raise
    w, h = int(cap.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    report = VideoReport(source=cap.name, width=w, height=h, fps=cap.fps, total_frames=cap.total)
    detector = frame_detector(recognizer, w, h, detect_width, min_face) if w > 0 and h > 0 else None
    cfg = config or tracker_config(cap.fps, lost_timeout_s, refresh_s, reid_similarity=_reid_threshold(recognizer),
                                   cut_detector=cut_detector, identity_guard=identity_guard)
    embed = recognizer.embedder.embed
    tracker = FaceTracker(cfg, embed=embed, gallery=gallery, threshold=threshold, model_id=recognizer.model_id)
    cuts = SceneCutDetector(cfg.cut_detector, cut_threshold if cut_threshold is not None else cfg.cut_threshold)
    writer = None
    # Cameras and streams: wall-clock seconds of detection frames (the only frames events name),
    # pruned to those live tracks can still refer to, so a camera can run for days.
    stamps: dict[int, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()

    def when(frame: int) -> float:
        if not cap.stream:
            return frame / cap.fps
        return stamps.get(frame, time.perf_counter() - t0)

    def flush(evs: Sequence[TrackEvent]) -> None:
        for e in evs:
            rec = e.to_dict()
            rec = {"event": rec.pop("event"), "time": round(when(e.frame), 3), **rec}
            log_.write(rec)

    total = cap.total if max_frames is None else (min(cap.total, max_frames) if cap.total else max_frames)
    bar = None
    if progress and not cap.stream:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", desc=Path(cap.name).name, file=sys.stderr, dynamic_ncols=True)
    error: str | None = None
    last_detect = -(1 << 30)
    limited = False  # stopped by max_frames, not by the end of the source
    try:
        while True:
            if max_frames is not None and report.frames >= max_frames:
                limited = True
                break
            ok, frame = cap.cap.read()
            if not ok or frame is None:
                break
            index = report.frames
            now = time.perf_counter() - t0
            cut = cuts(frame)
            if cut:
                log.debug("scene cut at frame %d", index)
                tracker.cut()
                flush(tracker.pop_events())
            if cut or index - last_detect >= detect_every:
                if cap.stream:
                    keep = tracker.referenced_frames()
                    stamps = {k: v for k, v in stamps.items() if k in keep}
                    stamps[index] = now
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if detector is None:  # a stream that did not say its frame size
                    detector = frame_detector(recognizer, rgb.shape[1], rgb.shape[0], detect_width, min_face)
                boxes, lms, crops = _detect(recognizer, rgb, detector)
                tracker.update(index, boxes, lms, crops if len(boxes) else None)
                report.detections_run += 1
                last_detect = index
                views = tracker.visible(index)
            else:
                views = tracker.advance(index)
            flush(tracker.pop_events())
            if out is not None:
                if writer is None:
                    writer = _open_writer(out, cap.fps, frame.shape[1], frame.shape[0])
                writer.write(draw_tracks(frame, views))
            if on_frame is not None:
                on_frame(index, views)
            report.frames += 1
            if bar is not None:
                bar.update(1)
        # A file that ends well before the frame count its header gives was cut short (a few
        # frames of slack: some containers estimate the count from the duration).
        if not cap.stream and not limited and cap.total and report.frames < cap.total - max(2, cap.total // 100):
            error = (f"{cap.name}: decoding stopped at frame {report.frames} of {cap.total} "
                     "(truncated or corrupt file)")
        elif report.frames == 0 and not limited:
            error = (f"{cap.name}: no frame could be decoded (not a video, or a corrupt file)" if not cap.stream
                     else f"{cap.name}: delivered no frame")
    finally:
        if bar is not None:
            bar.close()
        cap.cap.release()
        if writer is not None:
            writer.release()
        tracker.finish()
        flush(tracker.pop_events())
        report.embeddings = tracker.embeddings
        report.wall_s = time.perf_counter() - t0
        report.cpu_s = time.process_time() - c0
        report.events = list(log_.records)
        report.people = _summarise(report.events, lost_timeout_s)
        log_.write(report.summary_dict())
        if error is not None:
            report.error = error
            log_.write({"event": "error", "message": error, "frame": report.frames})
        log_.close()
    if error is not None:
        exc = VideoError(error)
        exc.report = report  # type: ignore[attr-defined]
        raise exc
    return report


def _reid_threshold(recognizer: "FaceRecognizer") -> float:
    """Cosine to re-attach a lost face to its track: the model's verification threshold when it
    has a calibrated one (a 'same person' decision), else the tracker's default."""
    try:
        thr = float(recognizer.threshold)
    except (FacerecError, TypeError, ValueError, AttributeError):
        return TrackerConfig().reid_similarity
    return thr if 0.0 < thr < 1.0 else TrackerConfig().reid_similarity


def _open_writer(path: str | os.PathLike, fps: float, width: int, height: int) -> Any:
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise VideoError(f"{p}: the folder {p.parent} does not exist")
    writer = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise VideoError(f"{p}: cannot write an mp4v video there")
    return writer


# -- command line -----------------------------------------------------------------------------


def print_summary(report: VideoReport, file: IO[str] | None = None) -> None:
    """The per-person table: intervals (appeared–left) with confidence."""
    file = file or sys.stdout
    dur = report.frames / report.fps if report.fps else 0.0
    print(f"{report.source}: {report.frames} frames ({dur:.1f} s at {report.fps:.4g} fps), {len(report.people)} "
          f"person(s); processed at {report.processing_fps:.1f} frames/s ({report.detections_run} detector passes, "
          f"{report.embeddings} crops embedded)", file=file)
    for p in report.people:
        spans = ", ".join(f"{_clock(i.start_s)}-{_clock(i.end_s)}"
                          + ("" if i.confidence is None else f" ({i.confidence:.2f})") for i in p.intervals)
        print(f"  {p.label:<24} {p.seconds:7.1f} s  {spans}", file=file)


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60.0)
    return f"{int(m):02d}:{s:04.1f}"
