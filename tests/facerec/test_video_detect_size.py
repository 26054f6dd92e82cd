"""The detection-size rule for video frames (facerec.detection.bounded.BoundedDetector.for_frames,
pipelines.video.frame_detector).

Oracles: the rule's arithmetic written out here (ceil(long side × smallest face / min face)),
and a real LFW face shrunk to the smallest size the rule promises, pasted into a frame, found
by the detector on the rule's copy.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from facerec.detection.bounded import MIN_FACE, VIDEO_MIN_SIDE, VIDEO_SMALLEST_FACE, BoundedDetector, create_detector, video_min_face
from facerec.io.image import load_image
from facerec.models.detectors import get_detector


class _Null:
    def detect(self, image):  # pragma: no cover - never run: these tests only size copies
        return []


@pytest.mark.parametrize("w,h,face", [(640, 360, 40), (640, 480, 40), (1280, 720, 40), (1920, 1080, 60),
                                      (3840, 2160, 120), (320, 240, 40), (480, 270, 40), (240, 180, 40)])
@pytest.mark.parametrize("smallest", [12, 20, 24])
def test_rule_sizes_the_copy_so_the_min_face_reaches_the_detectors_smallest(w, h, face, smallest):
    assert video_min_face(w, h) == face
    det = BoundedDetector(_Null(), "x", smallest_face=smallest).for_frames(w, h)
    need = max(smallest, VIDEO_SMALLEST_FACE)
    expect = min(max(w, h), max(VIDEO_MIN_SIDE, math.ceil(max(w, h) * need / face)))
    assert det.detect_side == expect
    # a face of `face` source pixels is at least `need` pixels in that copy (or the copy is the frame)
    assert face * det.detect_side / max(w, h) >= need or det.detect_side == max(w, h)


def test_fixed_size_and_min_face_override_the_rule():
    base = BoundedDetector(_Null(), "x", smallest_face=12)
    assert base.for_frames(1920, 1080, 640).detect_side == 640
    assert base.for_frames(1920, 1080, 0).side_for(1920) == 1920  # 0: the full frame
    assert base.for_frames(1920, 1080, min_face=40).detect_side == 960
    assert base.for_frames(640, 480, 5000).side_for(640) == 640  # never beyond the frame
    with pytest.raises(ValueError):
        base.for_frames(640, 480, min_face=0)


@pytest.mark.parametrize("person", ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg",
                                    "Tony_Blair/Tony_Blair_0001.jpg"])
def test_frame_detector_finds_a_min_size_face_on_the_rules_copy(lfw_dir, person):
    """Real faces scaled so their boxes are ~MIN_FACE px, in a 640×480 frame: found on the
    rule's 320-px copy (yunet), boxes mapped back to the frame's pixels."""
    det = create_detector("yunet")
    face = load_image(lfw_dir / person)  # 250×250 LFW photo, face box ~100 px
    ref = det.detect(face)[0].box
    s = (MIN_FACE + 4) / min(ref[2] - ref[0], ref[3] - ref[1])
    small = cv2.resize(face, (round(250 * s), round(250 * s)), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[200:200 + small.shape[0], 300:300 + small.shape[1]] = small
    fd = det.for_frames(640, 480)
    assert fd.detect_side == math.ceil(640 * max(get_detector("yunet").smallest_face, VIDEO_SMALLEST_FACE) / MIN_FACE)
    found = fd.detect(frame)
    assert len(found) == 1
    expect = ref * s + np.array([300, 200, 300, 200])
    assert np.abs(found[0].box - expect).max() < 0.25 * MIN_FACE


def test_frame_detector_takes_a_fixed_size_from_the_recognizer_or_the_call():
    """pipelines.video.frame_detector: --detect-width beats --detect-size (the recognizer's
    fixed bound), which beats the rule; --min-face asks for the rule."""
    from types import SimpleNamespace

    from pipelines.video import frame_detector

    rule = SimpleNamespace(detector=BoundedDetector(_Null(), "x", smallest_face=12))
    fixed = SimpleNamespace(detector=BoundedDetector(_Null(), "x", 480, smallest_face=12))
    assert frame_detector(rule, 1920, 1080).detect_side == 640          # 60-px faces at 20 px
    assert frame_detector(fixed, 1920, 1080).detect_side == 480
    assert frame_detector(fixed, 1920, 1080, 800).detect_side == 800
    assert frame_detector(fixed, 1920, 1080, min_face=96).detect_side == 400


@pytest.mark.parametrize("size,seen", [((1280, 720), 640), ((640, 360), 320), ((320, 240), 320), ((480, 270), 320)])
def test_process_video_detects_on_the_rules_copy(tmp_path, size, seen):
    """pipelines.video.process_video hands the detector the copy the rule sizes (written out
    above: 40-px faces at 20 px), not a fixed width, on every detection pass."""
    from types import SimpleNamespace

    from pipelines.video import process_video

    class Recording:
        def __init__(self) -> None:
            self.shapes: list = []

        def detect(self, rgb):
            self.shapes.append(rgb.shape)
            return []

    w, h = size
    path = tmp_path / "grey.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    for i in range(4):
        writer.write(np.full((h, w, 3), 60 + 40 * i, np.uint8))
    writer.release()
    inner = Recording()
    rec = SimpleNamespace(detector=BoundedDetector(inner, "x", smallest_face=12), model_id="m", threshold=0.5,
                          embedder=SimpleNamespace(embed=lambda crops: np.zeros((len(crops), 4), np.float32)))
    gallery = SimpleNamespace(threshold=0.5, search_embeddings=lambda *a, **k: [], __len__=lambda: 0)
    report = process_video(rec, gallery, path, detect_every=2)
    assert report.detections_run >= 2
    assert inner.shapes and all(s[:2] == (round(seen * h / w), seen) for s in inner.shapes)
