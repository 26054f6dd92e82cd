"""Synthetic video clips with known per-frame truth, made from real face photos.

    from benchmarks.video_clips import make_clips, score_clip
    clips = make_clips(tmp_dir, size=(640, 480), frames=125)   # mp4v files + truth
    clips[0].truth[17]   # frame 17: [FaceTruth(box, identity, person, visible), ...]

ORL and LFW photos are pasted onto a plain, noisy background (a grey gradient with fixed
texture noise and a little fresh sensor noise per frame) and written with
``cv2.VideoWriter`` (mp4v). Each person cycles through several of their photos (a new one
every ``hold`` frames: expression and pose change while the track goes on) along a smooth
path that moves and changes scale. Positions are fractions of the frame, so one scenario
renders at 320×240, 640×480 or 1280×720 alike.

The gallery is the first 10 ORL people (:data:`ENROLLED`) from photos 1–5
(:func:`enrollment_photos`); clips show their photos 6–10, ORL people 31–40 and LFW people
nobody enrolled (truth identity None: the right answer is "unknown").

Scenarios (:data:`SCENARIOS`): ``walk_zoom`` (one person crossing the frame while coming
closer), ``cuts`` (three shots, three people, a new background each), ``two_people`` (two at
once, the second stepping in and out mid-shot, so detection latency counts), ``stranger``
(someone known beside someone never enrolled), ``crossing`` (two people walking past each
other, one passing in front; the back face is hidden for a while and its ``visible``
fraction says how much).

:func:`score_clip` compares a run's per-frame labels with the truth.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import cv2
import numpy as np

from pipelines.paths import data_dir

#: The 10 enrolled ORL people and which of their photos enroll them / appear in clips.
ENROLLED = tuple(f"s{i}" for i in range(1, 11))
ENROLL_PHOTOS = (1, 2, 3, 4, 5)
PROBE_PHOTOS = (6, 7, 8, 9, 10)
#: ORL people never enrolled.
ORL_STRANGERS = tuple(f"s{i}" for i in range(31, 41))
SCENARIOS = ("walk_zoom", "cuts", "two_people", "stranger", "crossing")
ORL_ASPECT = 92 / 112  # width / height of an ORL photo (LFW photos are cropped to it)

#: (t in [0, 1] through the shot) → (centre x, centre y, height) as fractions of the frame.
Path2D = Callable[[float], tuple[float, float, float]]


class FaceTruth(NamedTuple):
    """One face on one frame: the pasted photo's box (x1, y1, x2, y2) in frame pixels, the
    gallery identity (None: never enrolled), a person key (unique per person, also for
    strangers) and the fraction of the photo not hidden by another face."""

    box: tuple[float, float, float, float]
    identity: str | None
    person: str
    visible: float = 1.0


@dataclass(frozen=True)
class Clip:
    """A written clip and its truth: ``truth[frame]`` lists the faces on that frame."""

    name: str
    path: Path
    size: tuple[int, int]
    fps: float
    truth: list[list[FaceTruth]]

    @property
    def frames(self) -> int:
        return len(self.truth)


@dataclass
class _Actor:
    person: str                 # "s3", "lfw:Colin_Powell"
    identity: str | None        # gallery name, None for strangers
    photos: list[np.ndarray]    # (h, w) uint8 grey, ORL aspect
    path: Path2D
    hold: int = 10              # frames per photo
    phase: int = 0              # offset into the photo cycle
    start: float = 0.0          # on screen from this fraction of the shot...
    end: float = 1.0            # ... to this one (stepping in and out mid-shot, no cut)


@dataclass
class _Shot:
    frames: int
    actors: list[_Actor]        # drawn in order: later ones in front
    seed: int = 0
    tags: dict[str, Any] = field(default_factory=dict)


# -- photos -----------------------------------------------------------------------------------
def _orl(person: str, photos: Sequence[int], data: Path) -> list[np.ndarray]:
    return [_read_grey(data / "orl" / person / f"{i}.pgm") for i in photos]


def _lfw(name: str, n: int, data: Path) -> list[np.ndarray]:
    files = sorted((data / "lfw" / name).glob("*.jpg"))[:n]
    # LFW's 250×250 frames hold the face in the middle ~110 px: keep an ORL-like framing.
    return [_read_grey(f)[40:220, 52:198] for f in files]


def _read_grey(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot read the photo")
    return img


@functools.lru_cache(maxsize=8)
def _lfw_people(lfw: Path, min_photos: int) -> tuple[str, ...]:
    # LFW names its photos NAME_0001.jpg..., so the n-th photo's existence says "at least n".
    return tuple(sorted(d.name for d in lfw.iterdir() if (d / f"{d.name}_{min_photos:04d}.jpg").is_file()))


def lfw_strangers(data: Path, n: int, seed: int = 0, min_photos: int = 5) -> list[str]:
    """``n`` LFW people with at least ``min_photos`` photos, chosen by ``seed`` (never enrolled)."""
    people = _lfw_people(data / "lfw", min_photos)
    rng = np.random.default_rng(seed)
    return [people[i] for i in rng.choice(len(people), size=n, replace=False)]


def enrollment_photos(data: Path | None = None, people: Sequence[str] = ENROLLED,
                      photos: Sequence[int] = ENROLL_PHOTOS) -> dict[str, list[Path]]:
    """The gallery's photos: person → ORL photo paths (none of them appears in a clip)."""
    data = data or data_dir()
    return {p: [data / "orl" / p / f"{i}.pgm" for i in photos] for p in people}


# -- scenarios --------------------------------------------------------------------------------
def _lin(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def scenario(name: str, frames: int, data: Path, seed: int = 0) -> list[_Shot]:
    """The shots of scenario ``name`` over ``frames`` frames in all."""
    probe = list(PROBE_PHOTOS)
    known = list(ENROLLED)
    strangers = lfw_strangers(data, 2, seed) if name == "cuts" else []
    if name == "walk_zoom":
        walk: Path2D = lambda t: (_lin(0.3, 0.7, t), 0.5 + 0.04 * math.sin(6 * t), _lin(0.36, 0.62, t))
        return [_Shot(frames, [_Actor(known[0], known[0], _orl(known[0], probe, data), walk)], seed)]
    if name == "cuts":
        n1 = frames // 3
        n2 = (frames - n1) // 2
        return [
            _Shot(n1, [_Actor(known[1], known[1], _orl(known[1], probe, data),
                              lambda t: (0.45 + 0.05 * t, 0.5, 0.5))], seed),
            _Shot(n2, [_Actor(known[2], known[2], _orl(known[2], probe, data),
                              lambda t: (_lin(0.35, 0.6, t), _lin(0.45, 0.55, t), _lin(0.55, 0.45, t)))], seed + 1),
            _Shot(frames - n1 - n2, [_Actor(f"lfw:{strangers[0]}", None, _lfw(strangers[0], 5, data),
                                            lambda t: (_lin(0.6, 0.4, t), 0.5, 0.5))], seed + 2),
        ]
    if name == "two_people":
        return [_Shot(frames, [
            _Actor(known[3], known[3], _orl(known[3], probe, data),
                   lambda t: (0.26, 0.5 + 0.12 * math.sin(2 * math.pi * t), _lin(0.4, 0.48, t))),
            _Actor(known[4], known[4], _orl(known[4], probe, data),
                   lambda t: (0.74, 0.5 - 0.12 * math.sin(2 * math.pi * t), _lin(0.48, 0.4, t)), phase=5,
                   start=0.3, end=0.8),
        ], seed)]
    if name == "stranger":
        return [_Shot(frames, [
            _Actor(known[5], known[5], _orl(known[5], probe, data),
                   lambda t: (_lin(0.22, 0.3, t), 0.5, 0.45)),
            _Actor(ORL_STRANGERS[4], None, _orl(ORL_STRANGERS[4], probe, data),
                   lambda t: (_lin(0.78, 0.7, t), 0.5 + 0.05 * math.sin(4 * t), 0.45)),
        ], seed)]
    if name == "crossing":
        # Two people walk past each other at different heights; the second passes in front,
        # hiding most of the first one's face for a while (IoU of the boxes up to ≈ 0.45).
        return [_Shot(frames, [
            _Actor(known[6], known[6], _orl(known[6], probe, data), lambda t: (_lin(0.18, 0.82, t), 0.41, 0.42)),
            _Actor(known[7], known[7], _orl(known[7], probe, data), lambda t: (_lin(0.82, 0.18, t), 0.59, 0.42),
                   phase=3),
        ], seed, {"crossing": True})]
    raise ValueError(f"unknown scenario {name!r}; known: {SCENARIOS}")


# -- rendering --------------------------------------------------------------------------------
def _background(size: tuple[int, int], seed: int) -> np.ndarray:
    """(H, W) float32: a grey gradient in a random direction plus fixed texture noise."""
    w, h = size
    rng = np.random.default_rng(1000 + seed)
    a, b = rng.uniform(40, 215, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle) + 0.5
    return (a + (b - a) * ramp + rng.normal(0, 6, size=(h, w))).astype(np.float32)


def _box(path: Path2D, t: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    cx, cy, fh = path(t)
    bh = max(8, int(round(fh * h)))
    bw = max(8, int(round(bh * ORL_ASPECT)))
    x1 = int(round(cx * w - bw / 2))
    y1 = int(round(cy * h - bh / 2))
    x1 = min(max(x1, 0), w - bw)  # faces stay inside the frame
    y1 = min(max(y1, 0), h - bh)
    return x1, y1, x1 + bw, y1 + bh


def render(name: str, shots: Sequence[_Shot], path: Path, size: tuple[int, int], fps: float = 25.0,
           noise: float = 2.0, seed: int = 0) -> Clip:
    """Write the shots to ``path`` (mp4v) and return the clip with its truth."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write mp4v here")
    rng = np.random.default_rng(seed)
    truth: list[list[FaceTruth]] = []
    try:
        for shot in shots:
            bg = _background(size, shot.seed)
            # Sensor noise: a few fresh fields, cycled (drawing one per frame costs more than the rest).
            grain = [rng.normal(0, noise, size=bg.shape).astype(np.float32) for _ in range(3 if noise else 0)]
            for i in range(shot.frames):
                t = i / max(1, shot.frames - 1)
                img = bg + grain[i % len(grain)] if grain else bg.copy()
                placed = []
                for actor in shot.actors:
                    if not actor.start <= t <= actor.end:
                        continue
                    x1, y1, x2, y2 = _box(actor.path, t, size)
                    photo = actor.photos[((i + actor.phase) // actor.hold) % len(actor.photos)]
                    interp = cv2.INTER_AREA if (y2 - y1) < photo.shape[0] else cv2.INTER_LINEAR
                    img[y1:y2, x1:x2] = cv2.resize(photo, (x2 - x1, y2 - y1), interpolation=interp)
                    placed.append((actor, (x1, y1, x2, y2)))
                faces = []
                for k, (actor, box) in enumerate(placed):
                    hidden = np.zeros((box[3] - box[1], box[2] - box[0]), bool)
                    for _, front in placed[k + 1:]:  # later actors are drawn on top
                        ox1, oy1 = max(box[0], front[0]) - box[0], max(box[1], front[1]) - box[1]
                        ox2, oy2 = min(box[2], front[2]) - box[0], min(box[3], front[3]) - box[1]
                        if ox2 > ox1 and oy2 > oy1:
                            hidden[oy1:oy2, ox1:ox2] = True
                    faces.append(FaceTruth(tuple(float(v) for v in box), actor.identity, actor.person,
                                           round(1.0 - float(hidden.mean()), 4)))
                frame = np.clip(img, 0, 255).astype(np.uint8)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
                truth.append(faces)
    finally:
        writer.release()
    return Clip(name, path, size, fps, truth)


def make_clip(name: str, out_dir: str | Path, size: tuple[int, int] = (640, 480), frames: int = 100,
              fps: float = 25.0, data: Path | None = None, seed: int = 0) -> Clip:
    """Scenario ``name`` written to ``out_dir/NAME_WxH.mp4``."""
    data = data or data_dir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}_{size[0]}x{size[1]}.mp4"
    return render(name, scenario(name, frames, data, seed), path, size, fps, seed=seed)


def make_clips(out_dir: str | Path, size: tuple[int, int] = (640, 480), names: Sequence[str] = SCENARIOS,
               frames: int = 100, fps: float = 25.0, data: Path | None = None, seed: int = 0) -> list[Clip]:
    """Every scenario in ``names`` at ``size`` (see :func:`make_clip`)."""
    return [make_clip(n, out_dir, size, frames, fps, data, seed) for n in names]


# -- scoring ----------------------------------------------------------------------------------
@dataclass
class ClipScore:
    """Per-frame identification against the truth.

    Counted: each truth face at least ``min_visible`` visible. ``correct``: a shown box whose
    centre lies in the face's box carries the right label (the gallery name, or "unknown" for
    someone never enrolled); ``wrong``: another name or "unknown" for someone enrolled (or a
    name for a stranger); ``pending``: "?" (not yet searched); ``missed``: no box.
    ``track_switches``: times a truth face continued under another track id (MOT's IDSW);
    ``label_changes``: times a track's label changed after its first searched label.
    ``false_boxes``: shown boxes on no truth face.
    """

    name: str
    faces: int = 0
    correct: int = 0
    wrong: int = 0
    pending: int = 0
    missed: int = 0
    track_switches: int = 0
    label_changes: int = 0
    false_boxes: int = 0
    tracks: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.faces if self.faces else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items()}, "accuracy": round(self.accuracy, 4)}


def _inside(box: Any, truth: tuple[float, float, float, float]) -> bool:
    cx, cy = (float(box[0]) + float(box[2])) / 2, (float(box[1]) + float(box[3])) / 2
    return truth[0] <= cx <= truth[2] and truth[1] <= cy <= truth[3]


def score_clip(clip: Clip, frames: dict[int, Sequence[Any]], min_visible: float = 0.7) -> ClipScore:
    """Score ``frames`` (frame index → shown boxes with ``box``, ``label`` and ``track_id``
    attributes, e.g. :class:`facerec.tracking.TrackView`) against ``clip.truth``."""
    s = ClipScore(clip.name)
    last_track: dict[str, int] = {}
    last_label: dict[int, str] = {}
    seen_tracks: set[int] = set()
    for f, faces in enumerate(clip.truth):
        views = list(frames.get(f, ()))
        used: set[int] = set()
        # Front faces first: a hidden face's box centre may lie inside the one in front.
        for face in sorted(faces, key=lambda x: -x.visible):
            cands = [k for k, v in enumerate(views) if k not in used and _inside(v.box, face.box)]
            if not cands:
                if face.visible >= min_visible:
                    s.faces += 1
                    s.missed += 1
                continue
            fc = ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2)
            k = min(cands, key=lambda c: math.hypot((views[c].box[0] + views[c].box[2]) / 2 - fc[0],
                                                    (views[c].box[1] + views[c].box[3]) / 2 - fc[1]))
            used.add(k)
            v = views[k]
            prev = last_track.get(face.person)
            if prev is not None and prev != v.track_id:
                s.track_switches += 1
            last_track[face.person] = v.track_id
            if face.visible < min_visible:
                continue
            s.faces += 1
            want = face.identity if face.identity is not None else "unknown"
            if v.label == want:
                s.correct += 1
            elif v.label == "?":
                s.pending += 1
            else:
                s.wrong += 1
        for k, v in enumerate(views):
            seen_tracks.add(v.track_id)
            if k not in used:
                s.false_boxes += 1
            if v.label != "?":
                if v.track_id in last_label and last_label[v.track_id] != v.label:
                    s.label_changes += 1
                last_label[v.track_id] = v.label
    s.tracks = len(seen_tracks)
    return s


def enroll_gallery(recognizer: Any, data: Path | None = None, people: Sequence[str] = ENROLLED,
                   photos: Sequence[int] = ENROLL_PHOTOS) -> Any:
    """A :class:`facerec.gallery.Gallery` of ``people`` enrolled from their ORL ``photos``
    (a photo whose face the detector misses is embedded from a centre crop, as in the demo)."""
    from facerec.gallery import Gallery

    gallery = Gallery(recognizer)
    for name, paths in enrollment_photos(data, people, photos).items():
        faces = recognizer.face_batch(paths, fallback_center=True)
        gallery.enroll(name, [f.embedding for f in faces])
    return gallery
