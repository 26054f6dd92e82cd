"""Multi-face tracking in video and identification of whole tracks: arrays in, assignments out.

No file I/O and no video decoding here (that is :mod:`pipelines.video`): the caller runs the
detector on some frames and hands this package boxes, landmarks and aligned crops; it says
which track each detection belongs to, where every track is on the frames in between, and who
each track is. One concept per module, as supervision's ByteTrack is laid out:

* :mod:`.motion` — IoU and the constant-velocity box prediction;
* :mod:`.association` — Hungarian matching on ``1 − IoU`` with a gate, appearance only where
  boxes overlap heavily, revival of lost tracks by appearance;
* :mod:`.lifecycle` — tentative / confirmed / lost / ended, and the events (:class:`TrackEvent`);
* :mod:`.identification` — which crops to embed, the name from the best crops, when to
  re-verify and when a face contradicts its track (the identity guard: the track is split);
* :mod:`.cuts` — shot-cut detection (:class:`SceneCutDetector`; at a cut every track ends);
* :mod:`.config` — :class:`TrackerConfig`; :mod:`.tracker` — :class:`FaceTracker`.
"""
from facerec.tracking.association import ambiguous_detections, assign, revive_pairs
from facerec.tracking.config import CUT_METHODS, TrackerConfig
from facerec.tracking.cuts import DEFAULT_THRESHOLDS, SceneCutDetector, histogram_distance, hsv_histogram
from facerec.tracking.identification import PENDING, UNKNOWN, CropRecord, EmbedFn, GallerySearch, IdentityState, embed_reason
from facerec.tracking.lifecycle import EventKind, Track, TrackEvent, TrackView
from facerec.tracking.motion import box_jumped, iou_matrix, predict_box
from facerec.tracking.tracker import FaceTracker

__all__ = [
    "CUT_METHODS", "DEFAULT_THRESHOLDS", "PENDING", "UNKNOWN", "CropRecord", "EmbedFn", "EventKind", "FaceTracker",
    "GallerySearch", "IdentityState", "SceneCutDetector", "Track", "TrackEvent", "TrackView", "TrackerConfig",
    "ambiguous_detections", "assign", "box_jumped", "embed_reason", "histogram_distance", "hsv_histogram",
    "iou_matrix", "predict_box", "revive_pairs",
]
