"""Multi-face tracking in video and identification of whole tracks: arrays in, assignments out.

No file I/O and no video decoding here (that is :mod:`pipelines.video`): the caller runs the
detector on some frames and hands this module boxes, landmarks and aligned crops; it says which
track each detection belongs to, where every track is on the frames in between, and who each
track is.

Tracking (:class:`FaceTracker`)
    Each track keeps its last detected box and a constant velocity per box corner (pixels per
    frame, smoothed over detections), so frames without detection get a predicted box and a
    detection pass is matched against predictions, not stale boxes. Matching is one Hungarian
    assignment (``scipy.optimize.linear_sum_assignment``) on ``1 − IoU`` with an IoU gate. When
    boxes overlap heavily (a detection that overlaps two predicted tracks, or two detections
    that overlap one), the detections involved are embedded and ``1 − cosine`` to each track's
    recent appearance joins the cost, so two crossing people keep their tracks; appearance is
    computed only then, not on every match. A detection no prediction explains is embedded and
    compared with tracks that lost their face (occlusion, a missed detection) before a new
    track is born. Tracks are *tentative* until ``confirm_hits`` detections (a single stray
    detection never becomes an event), *lost* (not shown) while unmatched, and *ended* after
    ``max_lost_frames`` without a detection, or at once on a scene cut.

Identification
    Each detection's aligned crop gets a quality score (:func:`face_quality`: sharpness as the
    variance of the Laplacian, frontalness from the 5 landmarks, face size). Only crops that
    would enter the track's ``top_k`` best are embedded (plus the first crop, for an immediate
    provisional name, and one crop every ``refresh_frames`` as fresh evidence), never every
    frame. The track's identity is the gallery search of the normalised mean embedding of its
    ``top_k`` best crops, with the open-set rule of the gallery (accepted when
    ``score >= threshold``; below: ``"unknown"``, itself a tracked identity). Once a track has
    ``top_k`` embedded crops its identity is *firm*: it changes only when the mean of its most
    recent crops names another identity (or nobody) by ``revise_margin`` on ``revise_votes``
    consecutive checks, so one bad frame never renames a track.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, Sequence

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from .quality import FaceQuality, face_quality
from .similarity import l2_normalize

log = logging.getLogger(__name__)

#: ``(N, H, W, 3)`` uint8 aligned crops → ``(N, D)`` float32 unit embeddings.
EmbedFn = Callable[[np.ndarray], np.ndarray]
EventKind = Literal["appeared", "identified", "left"]
#: What a track is called while no crop has been embedded yet (no gallery, or no embedder).
PENDING = "?"
UNKNOWN = "unknown"

_BIG = 1e6  # cost of a forbidden pair in the assignment


class GallerySearch(Protocol):
    """What the tracker needs of a gallery (:class:`facerec.gallery.GalleryBase` fits)."""

    @property
    def threshold(self) -> float | None: ...

    def __len__(self) -> int: ...

    def search_embeddings(self, embeddings: np.ndarray, k: int = 5, threshold: float | None = None, *,
                          model_id: str | None = None) -> list[Any]: ...


# -- geometry ---------------------------------------------------------------------------------
def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4),
    boxes ``x1, y1, x2, y2``; returns (N, M) float64 (0 for degenerate boxes)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


# -- scene cuts -------------------------------------------------------------------------------
class SceneCutDetector:
    """Says whether a frame starts a new shot: the mean absolute difference of tiny grey
    thumbnails of consecutive frames exceeds ``threshold`` (0–255 grey levels).

    Downscaling to ``size`` averages away sensor noise and small motion; a cut changes most of
    the picture at once. A few tenths of a millisecond per 1280×720 frame.
    """

    def __init__(self, threshold: float = 30.0, size: tuple[int, int] = (32, 18)) -> None:
        self.threshold = float(threshold)
        self.size = size
        self._prev: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> bool:
        """``frame``: (H, W, 3) or (H, W) uint8; True when it differs from the previous one
        like a cut (never on the first frame)."""
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        thumb = cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA).astype(np.float32)
        prev, self._prev = self._prev, thumb
        return prev is not None and float(np.abs(thumb - prev).mean()) > self.threshold


# -- tracker ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings; durations in frames (:mod:`pipelines.video` converts seconds)."""

    iou_threshold: float = 0.1        # least IoU of a prediction and a detection to continue a track
    ambiguity_iou: float = 0.3        # detection overlapping ≥2 predictions this much → appearance decides
    appearance_weight: float = 2.0    # weight of (1 − cosine) in the cost of ambiguous pairs
    confirm_hits: int = 2             # detections before a track is confirmed (and announced)
    max_lost_frames: int = 25         # frames after its last detection before a lost track ends
    velocity_smoothing: float = 0.5   # weight of the newest velocity measurement (1: no smoothing)
    reid_similarity: float = 0.4      # cosine to revive a lost track from an unexplained detection
    reid_radius: float = 3.0          # ... whose centre lies within this many box heights of its prediction
    occlusion_iou: float = 0.15       # a crop overlapping another face this much is no identity evidence
    top_k: int = 3                    # best crops aggregated for the identity (and crops to be firm)
    max_embeddings: int = 6           # quality-driven embeddings per track (refreshes not counted)
    min_quality_gain: float = 0.15    # a crop replaces the worst of the top_k when better by this fraction
    min_quality: float = 0.02         # crops below are not embedded (except a track's first)
    refresh_frames: int = 50          # embed one fresh crop this often (identity check, appearance)
    revise_margin: float = 0.05       # how much the evidence must favour another identity to revise
    revise_votes: int = 2             # consecutive checks that must agree before a firm identity changes
    search_k: int = 5                 # gallery candidates per search
    sharpness_ref: float = 100.0      # see face_quality
    size_ref: float = 112.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.iou_threshold <= 1.0 or not 0.0 < self.ambiguity_iou <= 1.0:
            raise ValueError("iou_threshold must be in [0, 1] and ambiguity_iou in (0, 1]")
        if self.confirm_hits < 1 or self.max_lost_frames < 0 or self.top_k < 1 or self.revise_votes < 1:
            raise ValueError("confirm_hits, top_k and revise_votes must be >= 1, max_lost_frames >= 0")
        if not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError("velocity_smoothing must be in (0, 1]")
        if self.max_embeddings < 1 or self.refresh_frames < 1:
            raise ValueError("max_embeddings and refresh_frames must be >= 1")


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
    ``left``: it ended; ``frame`` = its last detection.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (frames only; times are the caller's)."""
        return {"event": self.kind, "track": self.track_id, "frame": self.frame, "label": self.label,
                "identity": self.identity, "confidence": None if self.score is None else round(float(self.score), 4),
                "best_match": self.best_match, "previous": self.previous, "evidence": self.evidence,
                "firm": self.firm, "box": [round(float(v), 1) for v in self.box],
                "first_frame": self.first_frame, "last_frame": self.last_frame}


@dataclass
class _Crop:
    quality: float
    frame: int
    crop: np.ndarray                 # (H, W, 3) uint8 aligned
    embedding: np.ndarray | None = None


@dataclass
class _Track:
    id: int
    box: np.ndarray                  # (4,) last detected box, at frame last_frame
    velocity: np.ndarray             # (4,) pixels per frame of x1, y1, x2, y2
    first_frame: int
    last_frame: int
    hits: int = 1
    misses: int = 0                  # consecutive detection passes without a match
    confirmed: bool = False
    best: list[_Crop] = field(default_factory=list)       # ≤ top_k embedded crops, best first
    recent: deque = field(default_factory=deque)          # last top_k embedded crops in time
    quality_embeds: int = 0
    last_embed_frame: int = -(1 << 60)
    decided: bool = False
    firm: bool = False
    identity: str | None = None
    score: float | None = None
    best_match: str | None = None
    evidence: int = 0
    candidate: str | None = None     # the identity a firm track is being revised towards
    votes: int = 0

    def predict(self, frame: int) -> np.ndarray:
        """Constant-velocity box at ``frame``; a box never collapses below 1 pixel."""
        box = self.box + self.velocity * (frame - self.last_frame)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        w, h = max(1.0, box[2] - box[0]), max(1.0, box[3] - box[1])
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])

    @property
    def label(self) -> str:
        return PENDING if not self.decided else (self.identity if self.identity is not None else UNKNOWN)

    def appearance(self) -> np.ndarray | None:
        """(D,) unit mean of the recent embeddings; None before any."""
        embs = [c.embedding for c in self.recent if c.embedding is not None]
        return l2_normalize(np.mean(embs, axis=0)) if embs else None


class FaceTracker:
    """Tracks faces across frames and names each track; see the module docstring.

    ``embed`` and ``gallery`` are optional: without them it is a pure box tracker (labels stay
    ``"?"``, crossings resolved by motion alone). Call :meth:`update` on frames with
    detections, :meth:`visible` on any frame, :meth:`cut` at a scene cut and :meth:`finish`
    at the end; :meth:`pop_events` hands out what happened since the last call.
    """

    def __init__(self, config: TrackerConfig | None = None, *, embed: EmbedFn | None = None,
                 gallery: GallerySearch | None = None, threshold: float | None = None,
                 model_id: str | None = None) -> None:
        self.config = config or TrackerConfig()
        self._embed = embed
        self._gallery = gallery
        self._threshold = threshold  # overrides the gallery's open-set threshold
        self._model_id = model_id  # the model `embed` runs: the gallery refuses another one's queries
        self._tracks: list[_Track] = []
        self._events: list[TrackEvent] = []
        self._next_id = 1
        self.embeddings = 0  # crops embedded so far (a cost counter)
        self.searches = 0

    # -- public -------------------------------------------------------------------------------
    def update(self, frame: int, boxes: np.ndarray, landmarks: np.ndarray | None = None,
               crops: np.ndarray | Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Associate one frame's detections with tracks; returns (N,) int64 track ids.

        ``boxes`` (N, 4) and ``landmarks`` (N, 5, 2) in frame pixels; ``crops`` (N, H, W, 3)
        uint8 aligned crops (needed for appearance and identification). Frames must increase.
        """
        cfg = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        crops_arr = None if crops is None or n == 0 else np.asarray(crops)
        lms = None if landmarks is None else np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
        det_emb: dict[int, np.ndarray] = {}  # embeddings computed for this frame's detections
        live = [t for t in self._tracks]
        pred = np.array([t.predict(frame) for t in live]).reshape(-1, 4)
        iou = iou_matrix(pred, boxes)  # (T, N)
        allowed = iou >= max(cfg.iou_threshold, 1e-9)
        cost = 1.0 - iou

        # Heavy overlap: motion alone may swap two faces; let appearance decide there.
        amb_dets = self._ambiguous_detections(iou, allowed)
        if amb_dets and crops_arr is not None and self._embed is not None:
            self._embed_detections(sorted(amb_dets), crops_arr, det_emb)
            for ti, t in enumerate(live):
                app = t.appearance()
                for j in amb_dets:
                    if allowed[ti, j]:
                        cos = float(app @ det_emb[j]) if app is not None else cfg.reid_similarity
                        cost[ti, j] += cfg.appearance_weight * (1.0 - cos)
            log.debug("frame %d: appearance used for detections %s", frame, sorted(amb_dets))

        assign = np.full(n, -1, dtype=np.int64)
        matched_tracks: set[int] = set()
        if len(live) and n:
            rows, cols = linear_sum_assignment(np.where(allowed, cost, _BIG))
            for r, c in zip(rows, cols):
                if allowed[r, c]:
                    assign[c] = r
                    matched_tracks.add(int(r))

        # Unexplained detections: a lost (or just missed) track of the same face, else a new track.
        loose = [j for j in range(n) if assign[j] < 0]
        if loose and crops_arr is not None and self._embed is not None:
            orphans = [ti for ti in range(len(live)) if ti not in matched_tracks and live[ti].appearance() is not None]
            if orphans:
                self._embed_detections(loose, crops_arr, det_emb)
                for ti, j in self._revive(live, orphans, loose, boxes, pred, det_emb):
                    assign[j] = ti
                    matched_tracks.add(ti)

        # How much each detection overlaps another face (detected, or predicted for another
        # track): an occluded crop may show part of someone else, so it is no identity evidence.
        overlap = np.zeros(n)
        if n > 1:
            others = iou_matrix(boxes, boxes)
            np.fill_diagonal(others, 0.0)
            overlap = others.max(1)
        for j in range(n):
            rest = [ti for ti in range(len(live)) if ti != assign[j]]
            if rest:
                overlap[j] = max(overlap[j], float(iou[rest, j].max()))

        ids = np.zeros(n, dtype=np.int64)
        to_embed: list[tuple[_Track, _Crop, int]] = []
        for j in range(n):
            if assign[j] >= 0:
                track = live[int(assign[j])]
                self._observe(track, frame, boxes[j])
            else:
                track = _Track(id=self._next_id, box=boxes[j].copy(), velocity=np.zeros(4), first_frame=frame,
                               last_frame=frame)
                self._next_id += 1
                self._tracks.append(track)
                if cfg.confirm_hits <= 1:
                    self._confirm(track)
            ids[j] = track.id
            if crops_arr is not None and self._embed is not None:
                rec = self._crop_record(track, frame, crops_arr[j], None if lms is None else lms[j], boxes[j],
                                        occluded=overlap[j] >= cfg.occlusion_iou)
                if rec is not None:
                    if j in det_emb:  # already embedded for association: free evidence
                        rec.embedding = det_emb[j]
                    to_embed.append((track, rec, j))

        for ti, t in enumerate(live):
            if ti not in matched_tracks:
                t.misses += 1
                if not t.confirmed:  # a tentative track that misses once was a stray detection
                    self._end(t, announce=False)
        self._expire(frame)
        self._identify(to_embed, frame)
        return ids

    def visible(self, frame: int) -> list[TrackView]:
        """Tracks matched on their last detection pass, with boxes predicted to ``frame``."""
        return [TrackView(track_id=t.id, box=t.predict(frame).astype(np.float32), label=t.label,
                          identity=t.identity, score=t.score, confirmed=t.confirmed, firm=t.firm,
                          detected=t.last_frame == frame)
                for t in self._tracks if t.misses == 0]

    def advance(self, frame: int) -> list[TrackView]:
        """A frame without detection: end tracks lost for too long; the visible tracks."""
        self._expire(frame)
        return self.visible(frame)

    def cut(self) -> None:
        """A scene cut: every track ends now (a face in the new shot is a new track)."""
        for t in list(self._tracks):
            self._end(t, announce=t.confirmed)

    def finish(self) -> None:
        """The video ended: end every track (``left`` events for the confirmed ones)."""
        self.cut()

    def pop_events(self) -> list[TrackEvent]:
        """Events since the last call, in order."""
        out, self._events = self._events, []
        return out

    def referenced_frames(self) -> set[int]:
        """Frames that future events may name: first and last detections of the tracks not ended."""
        return {f for t in self._tracks for f in (t.first_frame, t.last_frame)}

    @property
    def active_tracks(self) -> int:
        """Tracks not ended (visible or lost)."""
        return len(self._tracks)

    # -- association --------------------------------------------------------------------------
    def _ambiguous_detections(self, iou: np.ndarray, allowed: np.ndarray) -> set[int]:
        """Detections whose match motion cannot settle: overlapping two predictions heavily, or
        competing with another detection for a prediction; closed over the tracks they could
        take, so all pairs of one tangle get the appearance term (comparable costs)."""
        if iou.size == 0:
            return set()
        heavy = iou >= self.config.ambiguity_iou
        dets = set(np.flatnonzero(heavy.sum(0) >= 2).tolist())
        for ti in np.flatnonzero(heavy.sum(1) >= 2):
            dets.update(np.flatnonzero(heavy[ti]).tolist())
        grown = True
        while grown and dets:
            tracks = np.flatnonzero(allowed[:, sorted(dets)].any(1))
            more = set(np.flatnonzero(allowed[tracks].any(0)).tolist()) if len(tracks) else set()
            grown = not more <= dets
            dets |= more
        return dets

    def _revive(self, live: list[_Track], orphans: list[int], loose: list[int], boxes: np.ndarray, pred: np.ndarray,
                det_emb: dict[int, np.ndarray]) -> list[tuple[int, int]]:
        """(track index, detection) pairs where an unmatched track looks like (cosine ≥
        ``reid_similarity``) and is near (``reid_radius`` box heights of its prediction) an
        unexplained detection; best pairs first, each used once."""
        cfg = self.config
        pairs = []
        for ti in orphans:
            app = live[ti].appearance()
            assert app is not None
            cp = (pred[ti, :2] + pred[ti, 2:]) / 2
            reach = cfg.reid_radius * max(1.0, pred[ti, 3] - pred[ti, 1])
            for j in loose:
                cd = (boxes[j, :2] + boxes[j, 2:]) / 2
                sim = float(app @ det_emb[j])
                if sim >= cfg.reid_similarity and float(np.hypot(*(cd - cp))) <= reach:
                    pairs.append((sim, ti, j))
        out, used_t, used_d = [], set(), set()
        for sim, ti, j in sorted(pairs, reverse=True):
            if ti not in used_t and j not in used_d:
                used_t.add(ti)
                used_d.add(j)
                out.append((ti, j))
                log.debug("track %d revived by appearance (cosine %.3f)", live[ti].id, sim)
        return out

    def _embed_detections(self, idx: Sequence[int], crops: np.ndarray, det_emb: dict[int, np.ndarray]) -> None:
        todo = [j for j in idx if j not in det_emb]
        if not todo or self._embed is None:
            return
        embs = l2_normalize(self._embed(np.ascontiguousarray(crops[todo])))
        self.embeddings += len(todo)
        det_emb.update(zip(todo, embs))

    def _observe(self, t: _Track, frame: int, box: np.ndarray) -> None:
        """A detection continues ``t``: new position, smoothed velocity."""
        cfg = self.config
        dt = frame - t.last_frame
        if dt > 0:
            measured = (box - t.box) / dt
            # The first measurement is taken whole: a constant motion is then predicted exactly.
            a = 1.0 if t.hits == 1 else cfg.velocity_smoothing
            t.velocity = (1.0 - a) * t.velocity + a * measured
        t.box = box.copy()
        t.last_frame = frame
        t.hits += 1
        t.misses = 0
        if not t.confirmed and t.hits >= cfg.confirm_hits:
            self._confirm(t)

    def _expire(self, frame: int) -> None:
        for t in list(self._tracks):
            if t.misses > 0 and frame - t.last_frame > self.config.max_lost_frames:
                self._end(t, announce=t.confirmed)

    def _confirm(self, t: _Track) -> None:
        t.confirmed = True
        self._emit("appeared", t, t.first_frame)
        if t.decided:
            self._emit("identified", t, t.last_frame)

    def _end(self, t: _Track, announce: bool) -> None:
        self._tracks.remove(t)
        if announce:
            self._emit("left", t, t.last_frame)

    def _emit(self, kind: EventKind, t: _Track, frame: int, previous: str | None = None) -> None:
        self._events.append(TrackEvent(kind=kind, track_id=t.id, frame=frame, label=t.label, identity=t.identity,
                                       score=t.score, box=t.box.astype(np.float32), first_frame=t.first_frame,
                                       last_frame=t.last_frame, previous=previous, best_match=t.best_match,
                                       evidence=t.evidence, firm=t.firm))

    # -- identification -----------------------------------------------------------------------
    def _crop_record(self, t: _Track, frame: int, crop: np.ndarray, landmarks: np.ndarray | None,
                     box: np.ndarray, occluded: bool = False) -> _Crop | None:
        """The crop as evidence for ``t`` if it is worth embedding now, else None."""
        cfg = self.config
        if landmarks is None:
            q = 1.0
        else:
            q = face_quality(crop, landmarks, box, cfg.sharpness_ref, cfg.size_ref).score
        rec = _Crop(quality=q, frame=frame, crop=crop)
        if not t.best and not t.recent:
            return rec  # the first crop: an immediate provisional identity
        if q < cfg.min_quality or occluded:
            return None
        if t.quality_embeds < cfg.max_embeddings and (
                len(t.best) < cfg.top_k or q > t.best[-1].quality * (1.0 + cfg.min_quality_gain)):
            return rec
        if frame - t.last_embed_frame >= cfg.refresh_frames:
            return rec
        return None

    def _identify(self, todo: list[tuple[_Track, _Crop, int]], frame: int) -> None:
        """Embed the chosen crops (one batch) and update the identities of their tracks."""
        cfg = self.config
        need = [rec for _, rec, _ in todo if rec.embedding is None]
        if need and self._embed is not None:
            embs = l2_normalize(self._embed(np.stack([r.crop for r in need])))
            self.embeddings += len(need)
            for r, e in zip(need, embs):
                r.embedding = e
        for t, rec, _ in todo:
            refresh = not (len(t.best) < cfg.top_k or rec.quality > t.best[-1].quality * (1.0 + cfg.min_quality_gain))
            if not refresh:
                t.quality_embeds += 1
                t.best = sorted([*t.best, rec], key=lambda c: -c.quality)[:cfg.top_k]
            t.recent.append(rec)
            while len(t.recent) > cfg.top_k:
                t.recent.popleft()
            t.last_embed_frame = frame
            if self._gallery is not None:
                self._decide(t, frame)

    def _search(self, embs: Sequence[np.ndarray]) -> tuple[str | None, float | None, str | None, dict[str, float]]:
        """(accepted identity or None, best score, best name, scores by name) for the
        normalised mean of ``embs``."""
        assert self._gallery is not None
        if len(self._gallery) == 0:
            return None, None, None, {}
        q = l2_normalize(np.mean(np.stack(embs), axis=0))[None]
        k = min(self.config.search_k, len(self._gallery))
        (res,) = self._gallery.search_embeddings(q, k=k, threshold=self._threshold, model_id=self._model_id)
        self.searches += 1
        scores = {m.identity: float(m.score) for m in res.matches}
        return res.identity, res.score, (res.best.identity if res.best else None), scores

    def _threshold_now(self) -> float | None:
        if self._threshold is not None:
            return self._threshold
        return None if self._gallery is None else self._gallery.threshold

    def _decide(self, t: _Track, frame: int) -> None:
        cfg = self.config
        best_embs = [c.embedding for c in t.best if c.embedding is not None] or \
                    [c.embedding for c in t.recent if c.embedding is not None]
        ident, score, best_name, scores = self._search(best_embs)
        previous = t.label
        if not t.firm:
            # Provisional: the aggregate of the best crops so far decides, freely.
            changed = not t.decided or ident != t.identity
            t.decided, t.identity, t.best_match, t.evidence = True, ident, best_name, len(best_embs)
            t.score = scores.get(ident, score) if ident is not None else score
            t.firm = len(best_embs) >= cfg.top_k
            if t.confirmed and (changed or t.firm):
                self._emit("identified", t, frame, previous=previous if changed and previous != PENDING else None)
            return
        # Firm: only consistent, clear evidence from the most recent crops revises it.
        r_ident, r_score, _, r_scores = self._search([c.embedding for c in t.recent])
        thr = self._threshold_now()
        if r_ident == t.identity:
            t.candidate, t.votes = None, 0
            if ident == t.identity:  # keep the confidence up to date
                t.score = scores.get(ident, score) if ident is not None else score
            return
        current = r_scores.get(t.identity, -1.0) if t.identity is not None else None
        if r_ident is not None:
            strong = (r_score is not None and (thr is None or r_score >= thr + cfg.revise_margin)
                      and (current is None or r_score - current >= cfg.revise_margin))
        else:  # the named identity fades below the threshold: "unknown" needs a clear gap too
            strong = thr is not None and current is not None and current < thr - cfg.revise_margin
        if not strong:
            t.candidate, t.votes = None, 0
            return
        t.votes = t.votes + 1 if t.candidate == r_ident else 1
        t.candidate = r_ident
        if t.votes < cfg.revise_votes:
            return
        log.info("track %d revised: %s -> %s", t.id, t.label, r_ident or UNKNOWN)
        t.identity, t.score, t.candidate, t.votes = r_ident, r_score, None, 0
        t.best_match = r_ident or t.best_match
        t.best = sorted(t.recent, key=lambda c: -c.quality)  # the old crops were the other person's
        t.evidence = len(t.best)
        if t.confirmed:
            self._emit("identified", t, frame, previous=previous)
