"""``facerec video`` end to end with the default model on synthetic clips of real faces
(:mod:`benchmarks.video_clips`): per-frame names, crossings without identity switches,
unknown people, the JSON Lines events and summary, the annotated mp4, and bad input
(truncated files, non-videos, a missing camera, a camera that goes away).

The model is whatever ``FaceRecognizer.load()`` gives; nothing here depends on which. The
open-set threshold is derived from the clips' own photos (half-way between the best stranger
score and the worst score of an enrolled person's probe photos), so the checks are about
tracking and aggregation, not about one model's calibration.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.video_clips import ORL_STRANGERS, Clip, enroll_gallery, make_clip, score_clip
from pipelines import cli
from pipelines.video import DEFAULT_DETECT_EVERY, VideoError, process_video, read_events

SIZE = (320, 240)
FRAMES = 75


@pytest.fixture(scope="module")
def recognizer():
    from facerec import FaceRecognizer

    return FaceRecognizer.load()


@pytest.fixture(scope="module")
def gallery(recognizer, data_dir: Path):
    return enroll_gallery(recognizer, data_dir, photos=(1, 2, 3))


@pytest.fixture(scope="module")
def threshold(recognizer, gallery, data_dir: Path) -> float:
    """Half-way between strangers and enrolled people on the photos the clips show."""
    orl = data_dir / "orl"
    known = [orl / p / f"{i}.pgm" for p in ("s2", "s3", "s6", "s7", "s8") for i in range(6, 11)]
    strangers = [orl / p / f"{i}.pgm" for p in ORL_STRANGERS[:6] for i in (6, 8)]
    emb = np.stack([f.embedding for f in recognizer.face_batch(known + strangers, fallback_center=True)])
    res = gallery.search_embeddings(emb, k=1, threshold=-1.0)
    genuine = [r.score if r.best.identity == p.parent.name else -1.0 for r, p in zip(res, known)]
    impostor = [r.score for r in res[len(known):]]
    assert min(genuine) > max(impostor), "the default model cannot tell these ORL people apart"
    return (min(genuine) + max(impostor)) / 2


@pytest.fixture(scope="module")
def clips(tmp_path_factory, data_dir: Path) -> dict[str, Clip]:
    folder = tmp_path_factory.mktemp("clips")
    return {n: make_clip(n, folder, SIZE, FRAMES, data=data_dir) for n in ("crossing", "cuts", "stranger")}


@pytest.fixture(scope="module")
def gallery_dir(gallery, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gallery") / "people"
    gallery.save(path)
    return path


@pytest.fixture()
def facerec_main():
    """``pipelines.cli.main`` (the video command is registered there)."""
    assert "video" in cli.COMMANDS
    return cli.main


def run_clip(recognizer, gallery, clip: Clip, threshold: float, **kw):
    shown: dict[int, list] = {}
    report = process_video(recognizer, gallery, clip.path, threshold=threshold,
                           on_frame=lambda i, v: shown.__setitem__(i, v), **kw)
    return report, score_clip(clip, shown)


def test_crossing_people_keep_their_names(recognizer, gallery, threshold, clips, tmp_path: Path) -> None:
    clip = clips["crossing"]
    assert min(f.visible for faces in clip.truth for f in faces) < 0.5  # the back face is mostly hidden a while
    report, score = run_clip(recognizer, gallery, clip, threshold, events=tmp_path / "ev.jsonl")
    assert score.track_switches == 0 and score.label_changes == 0, score
    assert score.accuracy >= 0.9, score
    # the detector runs every DEFAULT_DETECT_EVERY-th frame (no cut in this clip), not on every frame
    assert report.frames == FRAMES and report.detections_run <= -(-FRAMES // DEFAULT_DETECT_EVERY) < FRAMES
    assert report.embeddings <= report.detections_run  # at most half of the 2 faces × detector passes
    people = {p.label: p for p in report.people}
    assert set(people) == {"s7", "s8"}
    for p in people.values():
        (iv,) = p.intervals
        assert iv.start_frame <= 5 and iv.end_frame >= FRAMES - 6 and iv.confidence >= threshold


def test_cuts_and_a_stranger_events_and_summary(recognizer, gallery, threshold, clips, tmp_path: Path) -> None:
    """Three shots: s2, s3, then an LFW stranger ("unknown"). The JSON Lines say who appeared,
    was identified and left when, in seconds and frames, and end with the summary."""
    clip = clips["cuts"]
    events = tmp_path / "events.jsonl"
    report, score = run_clip(recognizer, gallery, clip, threshold, events=events)
    assert score.accuracy >= 0.9 and score.wrong == 0, score
    recs = read_events(events)
    assert recs[-1]["event"] == "summary" and recs[-1]["frames"] == FRAMES
    body = recs[:-1]
    assert all(r["event"] in ("appeared", "identified", "left") for r in body)
    assert all(r["time"] == pytest.approx(r["frame"] / clip.fps, abs=1e-3) for r in body)
    named = [r for r in body if r["event"] == "identified"]
    assert [r["label"] for r in named if r["firm"]] == ["s2", "s3", "unknown"]
    assert all(r["confidence"] >= threshold for r in named if r["identity"])
    left = {r["track"]: r for r in body if r["event"] == "left"}
    appeared = {r["track"]: r for r in body if r["event"] == "appeared"}
    assert set(left) == set(appeared) and len(left) == 3
    shot = FRAMES // 3  # each shot's person leaves before the next one appears (the cut)
    firsts = sorted(r["frame"] for r in appeared.values())
    assert firsts == [0, shot, shot + (FRAMES - shot) // 2]
    summary = {p["label"]: p for p in recs[-1]["people"]}
    assert {"s2", "s3"} <= set(summary) and any(k.startswith("unknown #") for k in summary)
    assert summary["s2"]["intervals"][0]["appeared"] == 0.0
    assert [p.label for p in report.people][:2] == ["s2", "s3"]


def test_someone_never_enrolled_is_an_unknown_track(recognizer, gallery, threshold, clips) -> None:
    report, score = run_clip(recognizer, gallery, clips["stranger"], threshold)
    assert score.accuracy >= 0.9 and score.track_switches == 0, score
    labels = sorted(p.label.split(" #")[0] for p in report.people)
    assert labels == ["s6", "unknown"]


def test_cli_writes_annotated_video_events_and_summary(facerec_main, gallery_dir, threshold, clips, tmp_path: Path,
                                                      capsys) -> None:
    clip = clips["crossing"]
    out, events = tmp_path / "annotated.mp4", tmp_path / "events.jsonl"
    rc = facerec_main(["video", str(clip.path), "--gallery", str(gallery_dir), "--out", str(out), "--json", str(events),
                       "--threshold", str(threshold), "--max-frames", "40", "--no-progress"])
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "40 frames" in stdout and "s7" in stdout and "s8" in stdout
    cap = cv2.VideoCapture(str(out))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n += 1
        assert frame.shape[:2] == (SIZE[1], SIZE[0])
    assert n == 40
    recs = read_events(events)
    assert recs[-1]["event"] == "summary" and recs[-1]["frames"] == 40
    assert {r["label"] for r in recs if r["event"] == "identified"} == {"s7", "s8"}


def _avi_copy(clip: Clip, path: Path) -> Path:
    """The clip re-encoded as MJPG AVI: its frames can be decoded up to where a cut file ends."""
    cap = cv2.VideoCapture(str(clip.path))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), clip.fps, clip.size)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    return path


def test_truncated_file_keeps_the_events_found_so_far(recognizer, gallery, threshold, clips, tmp_path: Path) -> None:
    avi = _avi_copy(clips["stranger"], tmp_path / "whole.avi")
    cut = tmp_path / "cut.avi"
    data = avi.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    events = tmp_path / "events.jsonl"
    with pytest.raises(VideoError, match="truncated or corrupt") as err:
        process_video(recognizer, gallery, cut, threshold=threshold, events=events)
    report = err.value.report  # type: ignore[attr-defined]
    assert 20 < report.frames < FRAMES
    recs = read_events(events)
    kinds = [r["event"] for r in recs]
    assert kinds[-2:] == ["summary", "error"] and kinds.count("appeared") == 2 and kinds.count("left") == 2
    assert {r["label"] for r in recs if r["event"] == "identified"} == {"s6", "unknown"}
    assert recs[-1]["frame"] == report.frames


def test_cli_truncated_mp4_is_one_line_error(facerec_main, gallery_dir, clips, tmp_path: Path, capsys) -> None:
    half = tmp_path / "half.mp4"
    data = clips["crossing"].path.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    events = tmp_path / "events.jsonl"
    rc = facerec_main(["video", str(half), "--gallery", str(gallery_dir), "--json", str(events)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "truncated or corrupt" in err, err
    assert read_events(events)[-1]["event"] == "error"


@pytest.mark.parametrize("kind", ["text", "jpeg", "missing", "empty"])
def test_cli_refuses_what_is_not_a_video(facerec_main, gallery_dir, aaron: Path, tmp_path: Path, capsys, kind) -> None:
    path = {"text": tmp_path / "notes.mp4", "jpeg": aaron, "missing": tmp_path / "nope.mp4",
            "empty": tmp_path / "empty.avi"}[kind]
    if kind == "text":
        path.write_text("this is not a video\n" * 50)
    if kind == "empty":
        path.write_bytes(b"")
    events = tmp_path / "events.jsonl"
    rc = facerec_main(["video", str(path), "--gallery", str(gallery_dir), "--json", str(events)])
    err = capsys.readouterr().err.strip()
    want = {"text": "is a text file, not a video", "jpeg": "is a JPEG image, not a video", "missing": "no such file",
            "empty": "empty file"}[kind]
    assert rc == 2 and len(err.splitlines()) == 1 and want in err, err
    assert read_events(events) == [{"event": "error", "message": err.split("error: ", 1)[1], "frame": 0}]


def test_cli_missing_camera_is_one_line_error(facerec_main, gallery_dir, tmp_path: Path, capsys) -> None:
    events = tmp_path / "events.jsonl"
    rc = facerec_main(["video", "99", "--gallery", str(gallery_dir), "--json", str(events)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "camera 99: cannot open the camera" in err, err
    assert read_events(events)[-1]["event"] == "error"


def test_camera_that_goes_away_ends_cleanly(recognizer, gallery, threshold, clips, monkeypatch, tmp_path: Path) -> None:
    """A camera that stops delivering frames (unplugged) ends the run normally, with a summary."""
    real = cv2.VideoCapture
    clip = clips["stranger"]

    class UnpluggedAfter30:
        def __init__(self, index: int) -> None:
            assert index == 0
            self._cap, self._n = real(str(clip.path)), 0

        def isOpened(self) -> bool:
            return True

        def get(self, prop: int) -> float:
            return {cv2.CAP_PROP_FRAME_WIDTH: SIZE[0], cv2.CAP_PROP_FRAME_HEIGHT: SIZE[1]}.get(prop, 0.0)

        def read(self):
            self._n += 1
            return self._cap.read() if self._n <= 30 else (False, None)

        def release(self) -> None:
            self._cap.release()

    monkeypatch.setattr(cv2, "VideoCapture", UnpluggedAfter30)
    events = tmp_path / "events.jsonl"
    report = process_video(recognizer, gallery, "0", threshold=threshold, events=events)
    assert report.frames == 30 and report.error is None and report.source == "camera 0"
    recs = read_events(events)
    assert recs[-1]["event"] == "summary" and [r["event"] for r in recs].count("left") == 2
    times = [r["time"] for r in recs if "time" in r]
    assert times and all(0 <= t <= report.wall_s for t in times)  # wall-clock seconds for cameras


def test_bad_arguments(recognizer, gallery, clips) -> None:
    with pytest.raises(ValueError, match="detect_every"):
        process_video(recognizer, gallery, clips["crossing"].path, detect_every=0)
    with pytest.raises(ValueError, match="max_frames"):
        process_video(recognizer, gallery, clips["crossing"].path, max_frames=0)


def test_events_file_has_a_version_header_and_is_checked(tmp_path: Path) -> None:
    from pipelines.video import EVENTS_HEADER, EventLog

    path = tmp_path / "events.jsonl"
    log_ = EventLog(path)
    log_.write({"event": "error", "message": "x", "frame": 0})
    log_.close()
    assert json.loads(path.read_text().splitlines()[0]) == {"format": "facerec.video_events", "version": 1}
    assert read_events(path) == [{"event": "error", "message": "x", "frame": 0}]
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({**EVENTS_HEADER, "version": EVENTS_HEADER["version"] + 1}) + "\n")
    with pytest.raises(ValueError, match="events format version 2; this facerec reads version 1"):
        read_events(newer)
    old = tmp_path / "old.jsonl"
    old.write_text('{"event": "error", "message": "x", "frame": 0}\n')  # before the header existed
    with pytest.raises(ValueError, match="not a facerec video events file"):
        read_events(old)
