"""A track's life: tentative → confirmed → lost → ended, and the events it announces.

A track is *tentative* until ``confirm_hits`` detections (a single stray detection never
becomes an event), *lost* (not shown) while unmatched, and *ended* after ``max_lost_frames``
without a detection, at a scene cut, or when the identity guard splits it (the face on it is
someone else's: the old track ends at its last detection, a new one starts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from facerec.tracking.identification import IdentityState
from facerec.tracking.motion import predict_box, update_velocity

EventKind = Literal["appeared", "identified", "left"]


@dataclass(frozen=True)
class TrackView:
    """One visible track on one frame.

    ``label``: the identity's name, ``"unknown"`` (searched, below the open-set threshold) or
    ``"?"`` (not searched yet); ``score``: the aggregated cosine of the best gallery match
    (None before any search); ``detected``: the box comes from a detection on this frame
    (else it is predicted); ``firm``: the identity rests on ``top_k`` crops.
    """

    track_id: int
    box: np.ndarray
    label: str
    identity: str | None
    score: float | None
    confirmed: bool
    firm: bool
    detected: bool


@dataclass(frozen=True)
class TrackEvent:
    """Something that happened to a confirmed track.

    ``appeared``: ``frame`` = its first detection. ``identified``: its identity was decided or
    revised on ``frame`` (``previous``: the label before; ``evidence``: crops aggregated).
    ``left``: it ended; ``frame`` = its last detection; ``reason``: ``"lost"``, ``"cut"``,
    ``"split"`` (the identity guard found another face on it) or ``"end"`` (the video ended).
    """

    kind: EventKind
    track_id: int
    frame: int
    label: str
    identity: str | None
    score: float | None
    box: np.ndarray
    first_frame: int
    last_frame: int
    previous: str | None = None
    best_match: str | None = None
    evidence: int = 0
    firm: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (frames only; times are the caller's)."""
        d = {"event": self.kind, "track": self.track_id, "frame": self.frame, "label": self.label,
             "identity": self.identity, "confidence": None if self.score is None else round(float(self.score), 4),
             "best_match": self.best_match, "previous": self.previous, "evidence": self.evidence,
             "firm": self.firm, "box": [round(float(v), 1) for v in self.box],
             "first_frame": self.first_frame, "last_frame": self.last_frame}
        if self.reason is not None:
            d["reason"] = self.reason
        return d


@dataclass
class Track:
    """One face followed over frames: where it is (box, velocity) and where it stands in its life."""

    id: int
    box: np.ndarray                  # (4,) last detected box, at frame last_frame
    velocity: np.ndarray             # (4,) pixels per frame of x1, y1, x2, y2
    first_frame: int
    last_frame: int
    hits: int = 1
    misses: int = 0                  # consecutive detection passes without a match
    confirmed: bool = False
    ident: IdentityState = field(default_factory=IdentityState)
    # where it was before the latest detection (a split ends the old track there)
    prev_box: np.ndarray | None = None
    prev_last_frame: int | None = None

    def predict(self, frame: int) -> np.ndarray:
        """Constant-velocity box at ``frame``."""
        return predict_box(self.box, self.velocity, frame - self.last_frame)

    def observe(self, frame: int, box: np.ndarray, smoothing: float) -> None:
        """A detection continues the track: new position, smoothed velocity."""
        self.prev_box, self.prev_last_frame = self.box.copy(), self.last_frame
        self.velocity = update_velocity(self.velocity, self.box, box, frame - self.last_frame, smoothing,
                                        first=self.hits == 1)
        self.box = box.copy()
        self.last_frame = frame
        self.hits += 1
        self.misses = 0

    def view(self, frame: int) -> TrackView:
        i = self.ident
        return TrackView(track_id=self.id, box=self.predict(frame).astype(np.float32), label=i.label,
                         identity=i.identity, score=i.score, confirmed=self.confirmed, firm=i.firm,
                         detected=self.last_frame == frame)

    def event(self, kind: EventKind, frame: int, previous: str | None = None, reason: str | None = None) -> TrackEvent:
        i = self.ident
        return TrackEvent(kind=kind, track_id=self.id, frame=frame, label=i.label, identity=i.identity, score=i.score,
                          box=self.box.astype(np.float32), first_frame=self.first_frame, last_frame=self.last_frame,
                          previous=previous, best_match=i.best_match, evidence=i.evidence, firm=i.firm,
                          reason=reason)


class Lifecycle:
    """The live tracks and the events they announce (only confirmed tracks announce)."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self.events: list[TrackEvent] = []
        self._next_id = 1

    def new(self, frame: int, box: np.ndarray) -> Track:
        t = Track(id=self._next_id, box=np.asarray(box, np.float64).copy(), velocity=np.zeros(4), first_frame=frame,
                  last_frame=frame)
        self._next_id += 1
        self.tracks.append(t)
        return t

    def confirm(self, t: Track) -> None:
        t.confirmed = True
        self.emit(t, "appeared", t.first_frame)
        if t.ident.decided:
            self.emit(t, "identified", t.last_frame)

    def end(self, t: Track, reason: str) -> None:
        """The track ends (a ``left`` event if it was confirmed)."""
        self.tracks.remove(t)
        if t.confirmed:
            self.emit(t, "left", t.last_frame, reason=reason)

    def expire(self, frame: int, max_lost_frames: int) -> None:
        """End the tracks lost for more than ``max_lost_frames``."""
        for t in list(self.tracks):
            if t.misses > 0 and frame - t.last_frame > max_lost_frames:
                self.end(t, "lost")

    def emit(self, t: Track, kind: EventKind, frame: int, previous: str | None = None,
             reason: str | None = None) -> None:
        self.events.append(t.event(kind, frame, previous, reason))

    def pop_events(self) -> list[TrackEvent]:
        out, self.events = self.events, []
        return out
