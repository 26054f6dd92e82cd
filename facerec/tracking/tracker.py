"""The face tracker: association, lifecycle and identification put together, one frame at a time."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from facerec.similarity import l2_normalize
from facerec.tracking.association import ambiguous_detections, assign, overlap_with_others, revive_pairs
from facerec.tracking.config import TrackerConfig
from facerec.tracking.identification import CropRecord, EmbedFn, GallerySearch, Identifier, crop_quality, embed_reason
from facerec.tracking.lifecycle import Lifecycle, Track, TrackEvent, TrackView
from facerec.tracking.motion import box_jumped, iou_matrix

log = logging.getLogger(__name__)


class FaceTracker:
    """Tracks faces across frames and names each track; see :mod:`facerec.tracking`.

    ``embed`` and ``gallery`` are optional: without them it is a pure box tracker (labels stay
    ``"?"``, crossings resolved by motion alone). Call :meth:`update` on frames with
    detections, :meth:`advance` (or :meth:`visible`) on the others, :meth:`cut` at a scene
    cut and :meth:`finish` at the end; :meth:`pop_events` hands out what happened since the
    last call. ``model_id``: the model ``embed`` runs (the gallery refuses another model's
    queries); ``threshold`` overrides the gallery's open-set threshold.
    """

    def __init__(self, config: TrackerConfig | None = None, *, embed: EmbedFn | None = None,
                 gallery: GallerySearch | None = None, threshold: float | None = None,
                 model_id: str | None = None) -> None:
        self.config = config or TrackerConfig()
        self._embed = embed
        self._life = Lifecycle()
        self._ident = Identifier(self.config, gallery, threshold, model_id)
        self._gallery = gallery
        self.embeddings = 0  # crops embedded so far (a cost counter)
        self.splits = 0      # tracks split by the identity guard

    @property
    def searches(self) -> int:
        return self._ident.searches

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
        can_embed = crops_arr is not None and self._embed is not None
        det_emb: dict[int, np.ndarray] = {}  # embeddings computed for this frame's detections
        live = list(self._life.tracks)
        pred = np.array([t.predict(frame) for t in live]).reshape(-1, 4)
        iou = iou_matrix(pred, boxes)  # (T, N)
        allowed = iou >= max(cfg.iou_threshold, 1e-9)
        cost = 1.0 - iou

        # Heavy overlap: motion alone may swap two faces; let appearance decide there.
        amb = ambiguous_detections(iou, allowed, cfg.ambiguity_iou)
        if amb and can_embed:
            self._embed_detections(sorted(amb), crops_arr, det_emb)
            for ti, t in enumerate(live):
                app = t.ident.appearance()
                for j in amb:
                    if allowed[ti, j]:
                        cos = float(app @ det_emb[j]) if app is not None else cfg.reid_similarity
                        cost[ti, j] += cfg.appearance_weight * (1.0 - cos)
            log.debug("frame %d: appearance used for detections %s", frame, sorted(amb))
        assigned, matched = assign(cost, allowed)

        # Unexplained detections: a lost (or just missed) track of the same face, else a new track.
        revived: set[int] = set()
        loose = [j for j in range(n) if assigned[j] < 0]
        if loose and can_embed:
            apps = {ti: a for ti in range(len(live)) if ti not in matched
                    for a in [live[ti].ident.appearance()] if a is not None}
            if apps:
                self._embed_detections(loose, crops_arr, det_emb)
                for ti, j in revive_pairs(apps, loose, boxes, pred, det_emb, cfg.reid_similarity, cfg.reid_radius):
                    assigned[j] = ti
                    matched.add(ti)
                    revived.add(ti)

        overlap = overlap_with_others(boxes, iou, assigned)
        ids = np.zeros(n, dtype=np.int64)
        todo: list[tuple[Track, CropRecord, int]] = []
        for j in range(n):
            ti = int(assigned[j])
            if ti >= 0:
                track = live[ti]
                # Motion stops vouching for the face when the track was lost (occlusion, a missed
                # detection), revived by appearance, or its box jumped or changed size a lot.
                if track.misses > 0 or ti in revived or box_jumped(pred[ti], boxes[j], cfg.verify_iou,
                                                                    cfg.verify_scale):
                    track.ident.verify_due = True
                track.observe(frame, boxes[j], cfg.velocity_smoothing)
                if not track.confirmed and track.hits >= cfg.confirm_hits:
                    self._life.confirm(track)
            else:
                track = self._life.new(frame, boxes[j])
                if cfg.confirm_hits <= 1:
                    self._life.confirm(track)
            ids[j] = track.id
            if can_embed:
                assert crops_arr is not None
                q = crop_quality(crops_arr[j], None if lms is None else lms[j], boxes[j], cfg)
                kind = embed_reason(track.ident, q, frame, overlap[j] >= cfg.occlusion_iou, cfg)
                if kind is not None:
                    rec = CropRecord(kind=kind, quality=q, frame=frame, crop=crops_arr[j], embedding=det_emb.get(j))
                    todo.append((track, rec, j))

        for ti, t in enumerate(live):
            if ti not in matched:
                t.misses += 1
                if not t.confirmed:  # a tentative track that misses once was a stray detection
                    self._life.end(t, "lost")
        self._life.expire(frame, cfg.max_lost_frames)
        renamed = self._identify(todo, boxes, frame)
        return np.array([renamed.get(int(i), int(i)) for i in ids], dtype=np.int64)

    def visible(self, frame: int) -> list[TrackView]:
        """Tracks matched on their last detection pass, with boxes predicted to ``frame``."""
        return [t.view(frame) for t in self._life.tracks if t.misses == 0]

    def advance(self, frame: int) -> list[TrackView]:
        """A frame without detection: end tracks lost for too long; the visible tracks."""
        self._life.expire(frame, self.config.max_lost_frames)
        return self.visible(frame)

    def cut(self) -> None:
        """A scene cut: every track ends now (a face in the new shot is a new track)."""
        for t in list(self._life.tracks):
            self._life.end(t, "cut")

    def finish(self) -> None:
        """The video ended: end every track (``left`` events for the confirmed ones)."""
        for t in list(self._life.tracks):
            self._life.end(t, "end")

    def pop_events(self) -> list[TrackEvent]:
        """Events since the last call, in order."""
        return self._life.pop_events()

    def referenced_frames(self) -> set[int]:
        """Frames that future events may name: first and last detections of the tracks not ended."""
        return {f for t in self._life.tracks for f in (t.first_frame, t.last_frame)}

    @property
    def active_tracks(self) -> int:
        """Tracks not ended (visible or lost)."""
        return len(self._life.tracks)

    # -- identification -----------------------------------------------------------------------
    def _embed_detections(self, idx: Sequence[int], crops: np.ndarray, det_emb: dict[int, np.ndarray]) -> None:
        todo = [j for j in idx if j not in det_emb]
        if not todo or self._embed is None:
            return
        embs = l2_normalize(self._embed(np.ascontiguousarray(crops[todo])))
        self.embeddings += len(todo)
        det_emb.update(zip(todo, embs))

    def _identify(self, todo: list[tuple[Track, CropRecord, int]], boxes: np.ndarray, frame: int) -> dict[int, int]:
        """Embed the chosen crops (one batch), guard and update the identities of their tracks;
        returns {old track id: new track id} for the tracks the guard split on this frame."""
        need = [rec for _, rec, _ in todo if rec.embedding is None]
        if need and self._embed is not None:
            embs = l2_normalize(self._embed(np.stack([r.crop for r in need])))
            self.embeddings += len(need)
            for r, e in zip(need, embs):
                r.embedding = e
        renamed: dict[int, int] = {}
        for t, rec, j in todo:
            assert rec.embedding is not None
            if self.config.identity_guard and rec.kind != "first":
                why = self._ident.contradiction(t.ident, rec.embedding)
                if why is not None:
                    old_id = t.id
                    t = self._split(t, boxes[j], frame, why)
                    renamed[old_id] = t.id
                    rec.kind = "first"  # the new track's first evidence
            self._ident.add(t.ident, rec, frame)
            if self._gallery is not None:
                announce, previous = self._ident.decide(t.ident, frame)
                if announce and t.confirmed:
                    if previous is not None:
                        log.info("track %d revised: %s -> %s", t.id, previous, t.ident.label)
                    self._life.emit(t, "identified", frame, previous=previous)
        return renamed

    def _split(self, old: Track, box: np.ndarray, frame: int, why: str) -> Track:
        """End ``old`` at its previous detection and start a new track on this detection."""
        log.info("frame %d: track %d (%s) split: %s", frame, old.id, old.ident.label, why)
        if old.prev_box is not None and old.prev_last_frame is not None:
            old.box, old.last_frame = old.prev_box, old.prev_last_frame
        confirmed = old.confirmed
        self._life.end(old, "split")
        new = self._life.new(frame, box)
        if confirmed:  # a real face where a confirmed track was: no need to wait for more hits
            self._life.confirm(new)
        self.splits += 1
        return new
