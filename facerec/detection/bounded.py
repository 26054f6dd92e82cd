"""THE detection rule for every caller: image in → faces in original pixels out, at a cost
bounded by design.

A detector's cost grows with the pixels it sees (MTCNN's pyramid over a 48 MP photo: ~80 s
and 6 GB), not with the faces. So :class:`BoundedDetector` gives the network a copy of bounded
size (decoded at reduced size where the format allows, see :class:`facerec.io.photo.Photo`, then
area-resampled), and maps boxes and landmarks back to the original's pixels. The copy's longest
side is the detector's ``detect_side`` (1280 px), grown for big photos until a face of
:data:`MIN_FACE` original pixels is as large in the copy as the smallest face the detector finds
reliably, but never beyond its ``max_detect_side`` (the cost bound). A fixed side
(``--detect-size``) replaces the rule; 0 is the full image. :func:`crop_face` aligns each face from a level with at least the crop's
resolution around it — the full image only when a face is small in a large photo.

Video frames (:meth:`BoundedDetector.for_frames`) get a fixed copy per source instead: the
smallest in which a face of 40 source pixels (60 in 1080p, :func:`video_min_face`) is
:data:`VIDEO_SMALLEST_FACE` pixels, since per-frame cost is what counts there.

``create_detector`` builds a named detector (:mod:`facerec.models.detectors`) under this rule.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from facerec.alignment import Template, estimate_similarity, get_template
from facerec.detection.detector import Detector, MTCNNConfig
from facerec.io.image import ImageInput
from facerec.io.photo import Photo, open_photo
from facerec.types import Detection

log = logging.getLogger(__name__)

#: Faces of at least this many pixels (short side, in the original) are to be found in any
#: photo, within the detector's cost bound.
MIN_FACE = 40
#: The smallest face (pixels of the copy) a detector is counted on to find in video frames:
#: compressed, often blurred frames need more than a photo's ``smallest_face`` (YuNet: 12 px in
#: photos, but on real footage 58/67 of the 40-60 px faces at a copy where they are 12-19 px
#: against 65/67 at 20-30 px; benchmarks/video_real.py sizes).
VIDEO_SMALLEST_FACE = 20
#: Nor is a video copy smaller than this (a 320-px copy costs YuNet ~7 ms: going below saves
#: little and loses the small faces of small frames).
VIDEO_MIN_SIDE = 320


@dataclass(frozen=True)
class DetectorSettings:
    """What names a detector's output (cache keys, gallery records): its registry name, the
    copy's size rule (fixed ``detect_side``, 0 = full resolution; or None and the rule's
    ``base_side``/``max_side``/``smallest_face``) and its own settings."""

    name: str
    detect_side: int | None
    base_side: int
    max_side: int
    smallest_face: int
    options: dict[str, Any]


def _resize_area(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def _map(points: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """(…, 2) points of an image scaled by (sx, sy) → original pixels (pixel centres kept)."""
    out = np.asarray(points, np.float32).copy()
    out[..., 0] = (out[..., 0] + 0.5) / sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) / sy - 0.5
    return out


def scale_detection(d: Detection, sx: float, sy: float) -> Detection:
    """A detection found on a copy scaled by (sx, sy), in the original's pixels."""
    box = _map(d.box.reshape(2, 2), sx, sy).reshape(4)
    return Detection(box=box, score=d.score, landmarks=_map(d.landmarks, sx, sy))


class BoundedDetector:
    """A detector (``inner``: any :class:`~facerec.detection.detector.Detector` on RGB arrays) run on a
    bounded copy: longest side ``detect_side`` when given (0: the full image), else
    :meth:`side_for`'s rule.

    ``detect(image)`` takes a path, bytes, an array, a PIL image or a :class:`~facerec.io.photo.Photo`
    and returns detections in the original's pixels, highest score first.
    """

    def __init__(self, inner: Detector, name: str, detect_side: int | None = None, *, base_side: int = 1280,
                 max_side: int = 1280, smallest_face: int = 20) -> None:
        if detect_side is not None and detect_side < 0:
            raise ValueError(f"detect_side must be >= 0 (0: full resolution), got {detect_side}")
        if not 0 < base_side <= max_side:
            raise ValueError(f"need 0 < base_side <= max_side, got {base_side}, {max_side}")
        self.inner = inner
        self.name = name
        self.detect_side = None if detect_side is None else int(detect_side)
        self.base_side, self.max_side, self.smallest_face = int(base_side), int(max_side), int(smallest_face)

    @property
    def config(self) -> DetectorSettings:
        cfg = getattr(self.inner, "config", None)
        return DetectorSettings(self.name, self.detect_side, self.base_side, self.max_side, self.smallest_face,
                                dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else {})

    def side_for(self, long_side: int) -> int:
        """The longest side of the copy this detector sees for a photo whose longest side is
        ``long_side``: never more than the photo's own."""
        if self.detect_side is not None:
            return long_side if self.detect_side == 0 else min(long_side, self.detect_side)
        need = copy_side_for_face(long_side, MIN_FACE, self.smallest_face)
        return min(long_side, max(self.base_side, min(need, self.max_side)))

    def for_frames(self, width: int, height: int, detect_side: int | None = None,
                   min_face: int | None = None) -> "BoundedDetector":
        """This detector with a fixed bound for video frames of ``width`` × ``height``: given
        ``detect_side`` (0: full size), else the smallest copy in which a face of ``min_face``
        source pixels (default :func:`video_min_face`) is ``smallest_face`` pixels, at least
        :data:`VIDEO_SMALLEST_FACE` (per-frame cost is what matters in video, so the floor is
        :data:`VIDEO_MIN_SIDE`, not the photos' ``base_side``), never above the frame."""
        long_side = max(width, height)
        if detect_side is None:
            face = min_face if min_face is not None else video_min_face(width, height)
            if face < 1:
                raise ValueError(f"min_face must be at least 1 pixel, got {face}")
            need = copy_side_for_face(long_side, face, max(self.smallest_face, VIDEO_SMALLEST_FACE))
            detect_side = min(long_side, max(need, VIDEO_MIN_SIDE))
        return BoundedDetector(self.inner, self.name, detect_side, base_side=self.base_side, max_side=self.max_side,
                               smallest_face=self.smallest_face)

    def view(self, photo: Photo) -> tuple[np.ndarray, float, float]:
        """The copy the network sees and its scale to the original, ``(rgb, sx, sy)``."""
        side = self.side_for(max(photo.size))
        rgb, _ = photo.at_scale(photo.scale_for_side(side))
        h, w = rgb.shape[:2]
        if max(h, w) > side:
            f = side / max(h, w)
            w, h = max(1, round(w * f)), max(1, round(h * f))
            rgb = _resize_area(rgb, w, h)
        return rgb, w / photo.width, h / photo.height

    def detect(self, image: "ImageInput | Photo") -> list[Detection]:
        """All faces of ``image`` in its own pixels, highest score first."""
        photo = open_photo(image)
        rgb, sx, sy = self.view(photo)
        dets = self.inner.detect(rgb)
        if sx == 1.0 and sy == 1.0:
            return dets
        return [scale_detection(d, sx, sy) for d in dets]

    def detect_many(self, images: Sequence["ImageInput | Photo"]) -> list[list[Detection]]:
        """:meth:`detect` for each image."""
        return [self.detect(im) for im in images]


def copy_side_for_face(long_side: int, face: int, smallest: int) -> int:
    """The longest side of the copy (of an image whose longest side is ``long_side``) in which a
    face of ``face`` original pixels is ``smallest`` pixels: the one size rule of photos and
    video, rounded up so the face is never smaller than asked."""
    return -(-long_side * smallest // face)  # ceil


def video_min_face(width: int, height: int) -> int:
    """The smallest face (short side, source pixels) video detection must find: :data:`MIN_FACE`,
    and 1/18 of the frame's short side for large frames (60 px at 1080p: a 40-px face there is
    a far background face, and finding it would cost ~2.3x the pixels on every frame)."""
    return max(MIN_FACE, round(min(width, height) / 18))


def crop_face(photo: Photo, landmarks: np.ndarray, template: str | Template,
              align: Callable[[np.ndarray, np.ndarray, Template], np.ndarray]) -> np.ndarray:
    """``align(rgb, landmarks, template)`` on the coarsest level of ``photo`` that still has the
    crop's resolution around this face (landmarks in the original's pixels): a 48 MP photo is
    decoded in full only for faces smaller than the crop at the reduced levels."""
    tpl = get_template(template) if isinstance(template, str) else template
    m = estimate_similarity(np.asarray(landmarks, np.float32), tpl.points)
    warp_scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # crop pixels per original pixel
    rgb, s = photo.at_scale(warp_scale)
    if s == 1.0:
        return align(rgb, landmarks, tpl)
    sy = rgb.shape[0] / photo.height
    sx = rgb.shape[1] / photo.width
    lm = (np.asarray(landmarks, np.float32) + 0.5) * np.array([sx, sy], np.float32) - 0.5
    return align(rgb, lm, tpl)


def create_detector(name: str | None = None, config: Any = None, runtime: str = "auto", device: str = "cpu",
                    detect_side: int | None = None) -> BoundedDetector:
    """The named detector (default ``$FACEREC_DETECTOR``, else the registry's default) under the
    bounded-cost rule. ``config``: the detector's own settings (:class:`MTCNNConfig` for mtcnn,
    :class:`facerec.detection.yunet.YuNetConfig` for yunet); ``runtime``/``device``: mtcnn runs on
    onnxruntime (``"auto"`` on the CPU) or torch; yunet on OpenCV + onnxruntime only.
    ``detect_side``: a fixed bound (0: full resolution); default: the detector's rule (registry)."""
    from facerec.errors import ModelError
    from facerec.models.detectors import get_detector

    spec = get_detector(name)
    if runtime not in ("auto", "onnx", "torch"):
        raise ValueError(f"runtime must be one of auto, onnx, torch; got {runtime!r}")
    inner: Detector
    if spec.name == "yunet":
        from facerec.detection.yunet import YuNetConfig, YuNetDetector

        if config is not None and not isinstance(config, YuNetConfig):
            config = None  # MTCNN's knobs (the CLI's defaults) do not apply to YuNet
        if runtime == "torch" or str(device) != "cpu":
            log.info("yunet runs on OpenCV + onnxruntime on the CPU (runtime %s, device %s ignored)", runtime, device)
        inner = YuNetDetector(config)
    else:
        from facerec.detection.detector import MTCNNDetector
        from facerec.detection.mtcnn_onnx import NETS, OnnxMTCNNDetector, mtcnn_onnx_path

        if config is not None and not isinstance(config, MTCNNConfig):
            raise ModelError(f"mtcnn takes an MTCNNConfig, got {type(config).__name__}")
        have_onnx = all(mtcnn_onnx_path(n).is_file() for n in NETS)
        if runtime == "onnx" or (runtime == "auto" and str(device) == "cpu" and have_onnx):
            if not have_onnx:
                raise ModelError("the ONNX MTCNN networks are missing from facerec/weights: run facerec export --default")
            inner = OnnxMTCNNDetector(config)
        else:
            inner = MTCNNDetector(config, device=device)
    return BoundedDetector(inner, spec.name, detect_side, base_side=spec.detect_side, max_side=spec.max_detect_side,
                           smallest_face=spec.smallest_face)
