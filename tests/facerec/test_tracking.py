"""facerec.tracking on synthetic boxes and embeddings (no model, no video): prediction between
detections, crossing tracks, lost tracks, stray detections, scene cuts, crop quality and the
identity rules (a firm identity survives one bad frame and changes on consistent evidence)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facerec.alignment import ARCFACE_112
from facerec.gallery import Gallery
from facerec.quality import face_quality, frontalness, sharpness
from facerec.tracking import FaceTracker, SceneCutDetector, TrackerConfig, iou_matrix

W, H = 80.0, 100.0  # box size of the synthetic faces


def box_at(cx: float, cy: float, w: float = W, h: float = H) -> np.ndarray:
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def run(tracker: FaceTracker, paths: list, frames: range, every: int, code: list[int] | None = None) -> dict:
    """Feed ``paths`` (frame → (cx, cy) or None) to ``tracker``, detecting every ``every``
    frames; returns per frame {path index: track id shown at the path's position}. ``code``:
    per path, the index of its embedding in the fake embedder's table (crops carry it)."""
    shown = {}
    for f in frames:
        if f % every == 0:
            pts = [(k, p(f)) for k, p in enumerate(paths) if p(f) is not None]
            boxes = np.array([box_at(*c) for _, c in pts]).reshape(-1, 4)
            crops = None
            if code is not None and pts:
                crops = np.zeros((len(pts), 4, 4, 3), np.uint8)
                for i, (k, _) in enumerate(pts):
                    crops[i, 0, 0, 0] = code[k]
            tracker.update(f, boxes, None, crops)
        views = tracker.visible(f) if f % every == 0 else tracker.advance(f)
        per = {}
        for k, p in enumerate(paths):
            c = p(f)
            if c is None:
                continue
            hits = [v for v in views
                    if np.hypot((v.box[0] + v.box[2]) / 2 - c[0], (v.box[1] + v.box[3]) / 2 - c[1]) < 10]
            if len(hits) == 1:  # two faces at one place cannot be told apart by position
                per[k] = hits[0].track_id
        shown[f] = per
    return shown


def table_embedder(table: np.ndarray):
    """A fake embedder: a crop's pixel [0, 0, 0] indexes a row of ``table``."""
    calls = []

    def embed(crops: np.ndarray) -> np.ndarray:
        calls.append(len(crops))
        return table[np.asarray(crops)[:, 0, 0, 0].astype(int)]

    embed.calls = calls  # type: ignore[attr-defined]
    return embed


def test_iou_matrix_against_hand_values() -> None:
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]])
    b = np.array([[0, 0, 10, 10], [10, 10, 20, 20], [0, 0, 0, 0]])
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    assert m[0, 0] == 1.0 and m[0, 1] == 0.0 and m[0, 2] == 0.0
    assert m[1, 0] == pytest.approx(25 / 175) and m[1, 1] == pytest.approx(25 / 175)
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_prediction_between_detections_is_constant_velocity() -> None:
    """After two detections of a box moving (and growing) at constant speed, every frame in
    between later detections is predicted exactly."""
    tr = FaceTracker(TrackerConfig(confirm_hits=2))

    def truth(f: int) -> np.ndarray:
        return box_at(50 + 3.0 * f, 80 - 1.5 * f, W + 0.4 * f, H + 0.5 * f)

    tr.update(0, truth(0)[None])
    tr.update(5, truth(5)[None])
    for f in range(6, 10):
        (v,) = tr.advance(f)
        np.testing.assert_allclose(v.box, truth(f), atol=1e-3)
        assert not v.detected and v.confirmed
    (v,) = tr.visible(5)
    assert v.detected


def test_velocity_is_smoothed_after_the_first_measurement() -> None:
    tr = FaceTracker(TrackerConfig(velocity_smoothing=0.5))
    tr.update(0, box_at(100, 100)[None])
    tr.update(1, box_at(110, 100)[None])  # 10 px/frame, taken whole
    tr.update(2, box_at(130, 100)[None])  # measured 20: smoothed to 15
    (v,) = tr.advance(3)
    assert (v.box[0] + v.box[2]) / 2 == pytest.approx(145.0)


@pytest.mark.parametrize("every", [1, 3, 5, 7])
def test_crossing_tracks_keep_their_ids_by_motion(every: int) -> None:
    """Two faces on the same line walk through each other (boxes fully overlap mid-way); the
    constant-velocity prediction keeps each on its own track, detecting every ``every`` frames."""
    paths = [lambda f: (60 + 4.0 * f, 200.0), lambda f: (340 - 4.0 * f, 200.0)]
    tr = FaceTracker(TrackerConfig(confirm_hits=2))
    shown = run(tr, paths, range(0, 71), every)
    ids_a = {s[0] for s in shown.values() if 0 in s}
    ids_b = {s[1] for s in shown.values() if 1 in s}
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b
    assert sum(1 for s in shown.values() if len(s) == 2) >= 64  # both shown (and apart) nearly all the time


def _bounce(f: int, start: float, speed: float) -> tuple[float, float]:
    # Walks towards the middle (x = 200) for 25 frames, then walks back: a constant-velocity
    # model expects it to carry on through the other face.
    x = start + speed * f if f <= 25 else start + speed * 25 - speed * (f - 25)
    return (x, 150.0)


def test_appearance_settles_heavy_overlap_that_motion_gets_wrong() -> None:
    """Two faces meet and turn back. On motion alone the tracks swap people; with embeddings
    (computed only while the boxes overlap heavily) each track keeps its face."""
    paths = [lambda f: _bounce(f, 100, 4.0), lambda f: _bounce(f, 300, -4.0)]
    frames = range(0, 51)

    motion = run(FaceTracker(), paths, frames, 5)
    assert motion[50][0] == motion[0][1] and motion[50][1] == motion[0][0]  # swapped: why appearance is needed

    table = np.eye(2, 8, dtype=np.float32)
    embed = table_embedder(table)
    tr = FaceTracker(embed=embed)
    shown = run(tr, paths, frames, 5, code=[0, 1])
    detected = [shown[f] for f in frames if f % 5 == 0 and len(shown[f]) == 2]
    assert len(detected) >= 10 and all(s == shown[0] for s in detected)  # every detection to its own track
    # Embedded: each track's first top_k crops (its appearance), then only while the boxes
    # overlap heavily (frames 20-30), plus one re-verification per track where it turns back
    # (its box leaves the constant-velocity prediction: the identity guard), not on all 22 detections.
    assert sum(embed.calls) <= 2 * TrackerConfig().top_k + 2 * 3 + 2


def test_lost_track_is_hidden_then_expires_with_a_left_event() -> None:
    tr = FaceTracker(TrackerConfig(confirm_hits=2, max_lost_frames=10))
    for f in (0, 2, 4):
        tr.update(f, box_at(100 + f, 100)[None])
    (appeared,) = tr.pop_events()
    assert appeared.kind == "appeared" and appeared.first_frame == 0
    tr.update(6, np.zeros((0, 4)))  # the face is gone
    assert tr.visible(6) == [] and tr.active_tracks == 1  # lost: not shown, not ended yet
    for f in range(7, 15):
        tr.advance(f)
    assert tr.pop_events() == [] and tr.active_tracks == 1
    tr.advance(15)  # 11 frames after its last detection at frame 4
    (left,) = tr.pop_events()
    assert left.kind == "left" and left.last_frame == 4 and left.track_id == appeared.track_id
    assert tr.active_tracks == 0


def test_lost_track_resumes_when_its_face_returns_in_time() -> None:
    tr = FaceTracker(TrackerConfig(max_lost_frames=30))
    ids = [tr.update(f, box_at(100 + 2 * f, 100)[None])[0] for f in (0, 5, 10)]
    tr.update(15, np.zeros((0, 4)))  # one missed detection pass
    back = tr.update(20, box_at(140, 100)[None])[0]
    assert len(set(ids)) == 1 and back == ids[0]


def test_a_single_stray_detection_never_becomes_an_event() -> None:
    tr = FaceTracker(TrackerConfig(confirm_hits=2))
    tr.update(0, box_at(100, 100)[None])
    assert len(tr.visible(0)) == 1 and not tr.visible(0)[0].confirmed  # shown, tentative
    tr.update(5, np.zeros((0, 4)))
    tr.finish()
    assert tr.pop_events() == [] and tr.active_tracks == 0


def test_scene_cut_ends_every_track() -> None:
    tr = FaceTracker()
    for f in (0, 5):
        tr.update(f, np.stack([box_at(100, 100), box_at(300, 100)]))
    tr.cut()
    kinds = [e.kind for e in tr.pop_events()]
    assert kinds.count("appeared") == 2 and kinds.count("left") == 2 and tr.active_tracks == 0
    new = tr.update(6, box_at(100, 100)[None])
    assert new[0] not in (1, 2)  # a face after the cut is a new track


@pytest.mark.parametrize("method", ["hsv", "grey"])
def test_scene_cut_detector(method: str) -> None:
    rng = np.random.default_rng(0)
    a = np.full((240, 320, 3), 60, np.uint8)
    cuts = SceneCutDetector(method)
    assert not cuts(a)
    moved = a.copy()
    moved[100:180, 100:160] = 200  # a face-sized patch appears: motion, not a cut
    assert not cuts(np.clip(moved + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8))
    assert cuts(np.full((240, 320, 3), 190, np.uint8))


def test_quality_prefers_sharp_frontal_large_faces() -> None:
    tpl = ARCFACE_112.points.astype(np.float64)
    assert frontalness(tpl) == pytest.approx(1.0, abs=0.03)
    turned = tpl.copy()
    turned[2, 0] += 12  # nose towards one eye: yaw
    assert frontalness(turned) < 0.7
    raised = tpl.copy()
    raised[2, 1] -= 12  # nose up towards the eyes: pitch
    assert frontalness(raised) < 0.7
    assert frontalness(np.zeros((5, 2))) == 0.0

    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    assert sharpness(sharp) > 10 * sharpness(blurred)
    box = np.array([0, 0, 112, 112])
    q_sharp, q_blur = face_quality(sharp, tpl, box), face_quality(blurred, tpl, box)
    assert q_sharp.score > q_blur.score
    small = face_quality(sharp, tpl, box / 4)
    assert small.size == pytest.approx(0.25) and small.score < q_sharp.score


def _gallery(table: np.ndarray, names: list[str], threshold: float) -> Gallery:
    g = Gallery(model_id="test", dim=table.shape[1], threshold=threshold)
    g.enroll_many(names, table[: len(names)], model_id="test")
    return g


def test_identity_from_few_crops_and_unknown_is_a_track_too() -> None:
    """A known face is named, a stranger is "unknown"; both get tracks and events, and only a
    few crops per track are embedded (not one per detection)."""
    d = 8
    table = np.eye(4, d, dtype=np.float32)
    table[3] = np.ones(d) / np.sqrt(d)  # the stranger: far from both enrolled people
    gallery = _gallery(table, ["Ada", "Bob"], threshold=0.6)
    embed = table_embedder(table)
    cfg = TrackerConfig(top_k=3, refresh_frames=1000)
    tr = FaceTracker(cfg, embed=embed, gallery=gallery)
    paths = [lambda f: (100.0, 150.0), lambda f: (300.0, 150.0)]
    run(tr, paths, range(0, 100), 2, code=[0, 3])  # 50 detections per face
    labels = {v.track_id: v.label for v in tr.visible(98)}
    assert sorted(labels.values()) == ["Ada", "unknown"]
    assert all(v.firm for v in tr.visible(98))
    assert tr.embeddings <= 2 * cfg.top_k  # the first crop, then the best: equal quality adds none
    tr.finish()
    events = tr.pop_events()
    ident = {(e.label, e.identity) for e in events if e.kind == "identified"}
    assert ("Ada", "Ada") in ident and ("unknown", None) in ident
    assert [e.kind for e in events].count("left") == 2


def _stepper(tr: FaceTracker, table: np.ndarray):
    """step(frame, code or embedding) → the label shown: one face at a fixed place whose crop
    embeds to ``table[code]``."""

    def step(f: int, code: int) -> str:
        crop = np.zeros((1, 4, 4, 3), np.uint8)
        crop[0, 0, 0, 0] = code
        tr.update(f, box_at(100, 100)[None], None, crop)
        (v,) = tr.visible(f)
        return v.label

    return step


def test_without_the_guard_one_odd_frame_does_not_rename_a_firm_track_but_consistent_evidence_does() -> None:
    """The slow revision rule alone (identity_guard=False, the tracker before issue 28)."""
    d = 8
    table = np.eye(3, d, dtype=np.float32)
    gallery = _gallery(table, ["Ada", "Bob"], threshold=0.6)
    cfg = TrackerConfig(top_k=3, refresh_frames=5, revise_votes=2, identity_guard=False)
    tr = FaceTracker(cfg, embed=table_embedder(table), gallery=gallery)
    step = _stepper(tr, table)
    for f in range(0, 30, 5):
        assert step(f, 0) == "Ada"
    assert tr.visible(25)[0].firm
    assert step(30, 1) == "Ada"  # one frame that looks like Bob: no rename
    for f in range(35, 60, 5):
        assert step(f, 0) == "Ada"
    labels = [step(f, 1) for f in range(60, 100, 5)]  # Bob for good: renamed after consistent checks
    assert labels[0] == "Ada" and labels[-1] == "Bob"
    revised = [e for e in tr.pop_events() if e.kind == "identified" and e.previous == "Ada"]
    assert len(revised) == 1 and revised[0].identity == "Bob"


def _mix(a: np.ndarray, b: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector at cosine ``cos`` to unit ``a``, in the plane of ``a`` and ``b`` (b ⟂ a)."""
    return cos * a + np.sqrt(1 - cos ** 2) * b


def test_identity_guard_splits_a_track_whose_face_is_someone_else() -> None:
    """A named, firm track (Ada) whose face becomes Bob's at the same place (the issue's cut
    that nobody detected): on the next embedded crop the track ends (``left``, reason
    ``split``) and a new track starts, named Bob at once; the old name is never shown on Bob.
    A degraded crop of Ada (cosine 0.5 to her, above the same-person level 0.4, and naming
    nobody) neither splits nor renames."""
    d = 8
    table = np.zeros((4, d), np.float32)
    table[:3] = np.eye(3, d)
    table[3] = _mix(table[0], table[2], 0.5)  # Ada, blurred: same person to the model, unnamed by the gallery
    gallery = _gallery(table, ["Ada", "Bob"], threshold=0.6)
    cfg = TrackerConfig(top_k=3, refresh_frames=5, reid_similarity=0.4)
    tr = FaceTracker(cfg, embed=table_embedder(table), gallery=gallery)
    step = _stepper(tr, table)
    ids = []
    for f in range(0, 30, 5):
        assert step(f, 0) == "Ada"
        ids.append(tr.visible(f)[0].track_id)
    assert step(30, 3) == "Ada" and tr.visible(30)[0].track_id == ids[0] and tr.splits == 0
    assert step(35, 1) == "Bob"  # the swap: named from the current face, at once
    new_id = tr.visible(35)[0].track_id
    assert new_id != ids[0] and tr.splits == 1
    events = tr.pop_events()
    left = [e for e in events if e.kind == "left"]
    assert len(left) == 1 and left[0].track_id == ids[0] and left[0].reason == "split" and left[0].last_frame == 30
    assert left[0].label == "Ada"
    assert [e.kind for e in events if e.track_id == new_id][:2] == ["appeared", "identified"]
    assert all(step(f, 1) == "Bob" for f in range(40, 60, 5)) and tr.visible(55)[0].track_id == new_id


def test_identity_guard_needs_no_gallery_and_reverifies_after_a_jump() -> None:
    """Without a gallery the guard still splits on appearance (cosine below the same-person
    level); a box that jumps is re-verified at once, even between refreshes."""
    d = 8
    table = np.eye(2, d, dtype=np.float32)
    cfg = TrackerConfig(top_k=1, max_embeddings=1, refresh_frames=1000, reid_similarity=0.4)
    embed = table_embedder(table)
    tr = FaceTracker(cfg, embed=embed)
    crop = np.zeros((1, 4, 4, 3), np.uint8)
    for f in (0, 5, 10):
        tr.update(f, box_at(100, 100)[None], None, crop)
    (first,) = tr.visible(10)
    calls = sum(embed.calls)
    assert calls == 1  # the first crop only: no refresh due, nothing better
    crop[0, 0, 0, 0] = 1  # another face, at a box half-way off the prediction
    tr.update(15, box_at(140, 100)[None], None, crop)
    (now,) = tr.visible(15)
    assert sum(embed.calls) == calls + 1 and now.track_id != first.track_id
    # With the guard off, the same jump keeps the track and embeds nothing.
    tr2 = FaceTracker(TrackerConfig(top_k=1, max_embeddings=1, refresh_frames=1000, identity_guard=False),
                      embed=table_embedder(table))
    crop[0, 0, 0, 0] = 0
    for f in (0, 5, 10):
        tr2.update(f, box_at(100, 100)[None], None, crop)
    crop[0, 0, 0, 0] = 1
    assert tr2.update(15, box_at(140, 100)[None], None, crop)[0] == tr2.visible(10)[0].track_id


def test_one_rule_decides_which_crops_are_embedded() -> None:
    """embed_reason against a hand-written table of cases."""
    from facerec.tracking import CropRecord, IdentityState, embed_reason

    cfg = TrackerConfig(top_k=2, max_embeddings=3, min_quality=0.1, min_quality_gain=0.5, refresh_frames=10)
    s = IdentityState()
    assert embed_reason(s, 0.0, 0, True, cfg) == "first"  # even a poor, occluded first crop
    rec = lambda q: CropRecord("quality", q, 0, np.zeros((1, 1, 3), np.uint8), np.ones(2))  # noqa: E731
    s.best, s.recent, s.last_embed_frame, s.quality_embeds = [rec(0.4)], [rec(0.4)], 0, 1
    assert embed_reason(s, 0.3, 1, False, cfg) == "quality"  # top_k not full yet
    s.best = [rec(0.4), rec(0.4)]
    assert embed_reason(s, 0.59, 1, False, cfg) is None      # not 50 % better than the worst of the best
    assert embed_reason(s, 0.61, 1, False, cfg) == "quality"
    assert embed_reason(s, 0.05, 20, False, cfg) is None      # below min_quality: never
    assert embed_reason(s, 0.3, 20, True, cfg) is None        # occluded: never
    assert embed_reason(s, 0.3, 10, False, cfg) == "refresh"
    s.verify_due = True
    assert embed_reason(s, 0.3, 1, False, cfg) == "verify"
    s.quality_embeds = 3                                      # the quality budget is spent
    s.verify_due = False
    assert embed_reason(s, 0.9, 1, False, cfg) is None


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        TrackerConfig(top_k=0)
    with pytest.raises(ValueError):
        TrackerConfig(velocity_smoothing=0.0)


def test_tracker_searches_with_its_model_id() -> None:
    """A tracker whose embedder is another model than the gallery's: the gallery refuses its
    queries (ModelError) instead of comparing embeddings of two models."""
    from facerec.errors import ModelError

    d = 8
    table = np.eye(3, d, dtype=np.float32)
    gallery = _gallery(table, ["Ada", "Bob"], threshold=0.6)  # built with model "test"
    embed = table_embedder(table)
    same = FaceTracker(TrackerConfig(), embed=embed, gallery=gallery, model_id="test")
    run(same, [lambda f: (100.0, 150.0)], range(0, 10), 2, code=[0])
    assert [v.label for v in same.visible(8)] == ["Ada"]
    other = FaceTracker(TrackerConfig(), embed=embed, gallery=gallery, model_id="another-model")
    with pytest.raises(ModelError, match="another-model"):
        run(other, [lambda f: (100.0, 150.0)], range(0, 10), 2, code=[0])
