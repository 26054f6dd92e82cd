"""The tracker's settings (one frozen dataclass, next to the code it configures)."""
from __future__ import annotations

from dataclasses import dataclass

#: Shot-cut rules :class:`~facerec.tracking.cuts.SceneCutDetector` knows; "off" detects none.
CUT_METHODS = ("hsv", "grey", "content", "off")


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings; durations in frames (:mod:`pipelines.video` converts seconds).

    Switches for comparing with the tracker before issue 28: ``cut_detector="grey"`` (the old
    grey-thumbnail rule, threshold 30) and ``identity_guard=False`` (a named track is never
    re-verified nor split; only the slow revision rule can rename it).
    """

    iou_threshold: float = 0.1        # least IoU of a prediction and a detection to continue a track
    ambiguity_iou: float = 0.3        # detection overlapping ≥2 predictions this much → appearance decides
    appearance_weight: float = 2.0    # weight of (1 − cosine) in the cost of ambiguous pairs
    confirm_hits: int = 2             # detections before a track is confirmed (and announced)
    max_lost_frames: int = 25         # frames after its last detection before a lost track ends
    velocity_smoothing: float = 0.5   # weight of the newest velocity measurement (1: no smoothing)
    # The same-person level: cosine to revive a lost track from an unexplained detection, and
    # below which the identity guard calls the current face someone else. pipelines.video sets
    # it to the model's calibrated verification threshold (a "same person" decision at the
    # model's calibrated false-accept rate); 0.4 is the fallback for a model without one.
    reid_similarity: float = 0.4
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
    sharpness_ref: float = 100.0      # see facerec.quality.face_quality
    size_ref: float = 112.0
    # -- identity guard (issue 28): re-verify a named track and split it when the face contradicts it
    identity_guard: bool = True
    verify_iou: float = 0.5           # a matched box this far (IoU with its prediction) from where it was expected ...
    verify_scale: float = 1.3         # ... or whose height changed by this factor is re-verified
    # -- shot cuts: "hsv" (default, measured best on real clips), "grey" (the old rule), "content"
    # (PySceneDetect's ContentDetector, optional package) or "off"; threshold None: the method's own
    cut_detector: str = "hsv"
    cut_threshold: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.iou_threshold <= 1.0 or not 0.0 < self.ambiguity_iou <= 1.0:
            raise ValueError("iou_threshold must be in [0, 1] and ambiguity_iou in (0, 1]")
        if self.confirm_hits < 1 or self.max_lost_frames < 0 or self.top_k < 1 or self.revise_votes < 1:
            raise ValueError("confirm_hits, top_k and revise_votes must be >= 1, max_lost_frames >= 0")
        if not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError("velocity_smoothing must be in (0, 1]")
        if self.max_embeddings < 1 or self.refresh_frames < 1:
            raise ValueError("max_embeddings and refresh_frames must be >= 1")
        if not 0.0 <= self.verify_iou <= 1.0 or self.verify_scale < 1.0:
            raise ValueError("verify_iou must be in [0, 1] and verify_scale >= 1")
        if self.cut_detector not in CUT_METHODS:
            raise ValueError(f"cut_detector must be one of {', '.join(CUT_METHODS)}, got {self.cut_detector!r}")
