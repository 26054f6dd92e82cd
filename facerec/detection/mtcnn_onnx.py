"""MTCNN without torch: the three cascade stages in numpy around P/R/O-Net runners, and the
detector that runs the networks exported to ONNX (``facerec/weights/mtcnn_{p,r,o}net.onnx``).

The stages follow facenet-pytorch's ``detect_face`` step for step, so the two runtimes give
the same detections (tests/facerec/test_onnx_parity.py holds them to within a pixel):

1. image pyramid: scales ``12/min_face_size · factor^k`` while the short side stays ≥ 12 px,
   resampled with torch's ``interpolate(mode="area")`` (= adaptive average pooling, written
   here with cumulative sums); pixels mapped to ``(p − 127.5) / 128``;
2. P-Net on every scale: cells above ``thresholds[0]`` become 12×12 windows in image pixels;
   NMS (IoU 0.5) per scale, then NMS (IoU 0.7) over all, box regression, squared boxes;
3. R-Net on 24×24 crops: score filter, NMS (IoU 0.7), box regression, squared boxes;
4. O-Net on 48×48 crops: score filter, landmarks from the box, box regression, NMS (0.7,
   overlap measured on the smaller box, "Min").
"""
from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from facerec.detection.detector import MTCNNConfig
from facerec.models.registry import PACKAGED_WEIGHTS
from facerec.io.image import ImageInput, load_image
from facerec.types import Detection

log = logging.getLogger(__name__)

#: (N, 3, H, W) float32 network input → the network's outputs, as facenet-pytorch orders them:
#: P-Net (reg (N, 4, h, w), prob (N, 2, h, w)); R-Net (reg (N, 4), prob (N, 2));
#: O-Net (reg (N, 4), landmarks (N, 10), prob (N, 2)).
Runner = Callable[[np.ndarray], Sequence[np.ndarray]]

NETS = ("pnet", "rnet", "onet")


def mtcnn_onnx_path(net: str, folder: Path | None = None) -> Path:
    """Where the ONNX export of ``net`` (pnet, rnet, onet) lives: in ``folder``, default the
    package's weights folder (:data:`facerec.models.registry.PACKAGED_WEIGHTS`)."""
    return (folder if folder is not None else PACKAGED_WEIGHTS) / f"mtcnn_{net}.onnx"


# -- numeric building blocks ----------------------------------------------------------------
def _area_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) input index of each output cell of adaptive average
    pooling (torch's integer formula)."""
    i = np.arange(n_out, dtype=np.int64)
    return (i * n_in) // n_out, ((i + 1) * n_in + n_out - 1) // n_out


@functools.lru_cache(maxsize=512)
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32: row i averages input cells [start_i, end_i)."""
    start, end = _area_weights(n_in, n_out)
    j = np.arange(n_in)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(np.float32)


#: Above this many matrix entries per axis, resample with cumulative sums (linear in the image)
#: instead of a dense averaging matrix (quadratic, but one BLAS call: faster for small inputs).
_DENSE_LIMIT = 400_000


def area_resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(H, W, C) → (out_h, out_w, C) float32, equal to torch ``interpolate(mode="area")``:
    each output pixel is the mean of its input rectangle (separable: rows, then columns)."""
    h, w, c = img.shape
    if h * out_h <= _DENSE_LIMIT and w * out_w <= _DENSE_LIMIT:
        rows = _area_matrix(h, out_h) @ img.astype(np.float32, copy=False).reshape(h, w * c)  # (out_h, W·C)
        cols = _area_matrix(w, out_w) @ rows.reshape(out_h, w, c).transpose(1, 0, 2).reshape(w, out_h * c)
        return np.ascontiguousarray(cols.reshape(out_w, out_h, c).transpose(1, 0, 2))
    x = img.astype(np.float64, copy=False)  # float64: differences of large running sums stay exact
    for axis, n_out in ((0, out_h), (1, out_w)):
        start, end = _area_weights(x.shape[axis], n_out)
        cs = np.cumsum(x, axis=axis)
        cs = np.concatenate([np.zeros_like(np.take(cs, [0], axis=axis)), cs], axis=axis)
        total = np.take(cs, end, axis=axis) - np.take(cs, start, axis=axis)
        shape = [1] * x.ndim
        shape[axis] = n_out
        x = total / (end - start).reshape(shape)
    return x.astype(np.float32)


def normalise(x: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) pixels → (..., 3, H, W) network input in about [−1, 1]."""
    return np.ascontiguousarray(np.moveaxis((x - np.float32(127.5)) * np.float32(0.0078125), -1, -3))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS, best score first (torchvision's ``nms``: IoU of the boxes
    as given, a box is dropped when its IoU with a kept one exceeds ``iou``)."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), bool)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[pos + 1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        suppressed[rest[inter / (areas[i] + areas[rest] - inter) > iou]] = True
    return np.asarray(keep, dtype=np.int64)


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The final-stage NMS of the original MTCNN: pixel-inclusive areas (+1), overlap measured
    on the smaller box; a box is dropped when the overlap exceeds ``threshold``."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    keep: list[int] = []
    while order.size:
        i = order[-1]
        keep.append(int(i))
        rest = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        order = rest[(w * h) / np.minimum(area[i], area[rest]) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def square(boxes: np.ndarray) -> np.ndarray:
    """Boxes (N, ≥4) made square around their centre (side = the longer side)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply R/O-Net's box regression (offsets in units of the pixel-inclusive size)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def crops(img: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size, 3) resampled crops of the boxes, clipped to the image (no padding, as
    facenet-pytorch does), and the indices of the boxes that had a non-empty crop."""
    h, w = img.shape[:2]
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x, y = np.maximum(b[:, 0], 1), np.maximum(b[:, 1], 1)
    ex, ey = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    out, kept = [], []
    for k in range(len(b)):
        if ey[k] > y[k] - 1 and ex[k] > x[k] - 1:
            out.append(area_resize(img[y[k] - 1:ey[k], x[k] - 1:ex[k]], size, size))
            kept.append(k)
    if not out:
        return np.zeros((0, size, size, 3), np.float32), np.zeros(0, np.int64)
    return np.stack(out), np.asarray(kept, np.int64)


def onet_points(boxes: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """O-Net's landmark output (N, 10: five x then five y, relative to the box) → (N, 5, 2)
    image pixels, for the boxes (N, ≥4) its 48×48 inputs were cut from (pixel-inclusive sizes)."""
    bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    return np.stack([bw * marks[:, :5] + boxes[:, 0:1] - 1, bh * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)


# -- the cascade ----------------------------------------------------------------------------
def pyramid_scales(height: int, width: int, min_face_size: int, factor: float) -> list[float]:
    """Scales of the image pyramid: the smallest face maps to P-Net's 12-px window."""
    m = 12.0 / min_face_size
    minl = min(height, width) * m
    scales, s = [], m
    while minl >= 12:
        scales.append(s)
        s *= factor
        minl *= factor
    return scales


def run_cascade(rgb: np.ndarray, config: MTCNNConfig, pnet: Runner, rnet: Runner,
                onet: Runner) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MTCNN on one (H, W, 3) uint8 RGB image → boxes (N, 4), scores (N,), landmarks (N, 5, 2),
    float32, in image pixels (before the final ``min_score`` filter)."""
    img = rgb.astype(np.float32)
    h, w = img.shape[:2]
    t1, t2, t3 = config.thresholds
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    # Stage 1: P-Net over the pyramid. Rows: x1 y1 x2 y2 score reg(4).
    found = []
    for scale in pyramid_scales(h, w, config.min_face_size, config.factor):
        x = normalise(area_resize(img, int(h * scale + 1), int(w * scale + 1)))[None]
        reg, prob = pnet(x)
        ys, xs = np.nonzero(prob[0, 1] >= t1)
        if len(ys) == 0:
            continue
        cell = np.stack([xs, ys], axis=1).astype(np.float32)
        q1 = np.floor((2 * cell + 1) / np.float32(scale))
        q2 = np.floor((2 * cell + 12) / np.float32(scale))
        rows = np.concatenate([q1, q2, prob[0, 1, ys, xs][:, None], reg[0][:, ys, xs].T], axis=1)
        found.append(rows[nms(rows[:, :4], rows[:, 4], 0.5)])
    if not found:
        return empty
    boxes = np.concatenate(found).astype(np.float32)
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = np.stack([boxes[:, 0] + boxes[:, 5] * bw, boxes[:, 1] + boxes[:, 6] * bh,
                      boxes[:, 2] + boxes[:, 7] * bw, boxes[:, 3] + boxes[:, 8] * bh, boxes[:, 4]], axis=1)
    boxes = square(boxes)

    # Stage 2: R-Net refines and filters.
    patches, kept = crops(img, boxes, 24)
    if len(kept) == 0:
        return empty
    boxes = boxes[kept]
    reg, prob = rnet(normalise(patches))
    ok = prob[:, 1] > t2
    boxes = np.concatenate([boxes[ok, :4], prob[ok, 1:2]], axis=1)
    reg = reg[ok]
    pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = square(_regress(boxes[pick], reg[pick]))
    if len(boxes) == 0:
        return empty

    # Stage 3: O-Net gives the final boxes and the 5 landmarks.
    patches, kept = crops(img, boxes, 48)
    if len(kept) == 0:
        return empty
    boxes = boxes[kept]
    reg, marks, prob = onet(normalise(patches))
    ok = prob[:, 1] > t3
    boxes = np.concatenate([boxes[ok, :4], prob[ok, 1:2]], axis=1)
    reg, marks = reg[ok], marks[ok]
    points = onet_points(boxes, marks)
    boxes = _regress(boxes, reg)
    pick = nms_min(boxes[:, :4], boxes[:, 4], 0.7)
    boxes, points = boxes[pick], points[pick]
    return boxes[:, :4].astype(np.float32), boxes[:, 4].astype(np.float32), points.astype(np.float32)


def to_detections(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, min_score: float) -> list[Detection]:
    """Cascade output → Detections at or above ``min_score``, highest score first."""
    dets = [Detection(box=boxes[i], score=float(scores[i]), landmarks=points[i])
            for i in range(len(boxes)) if np.isfinite(scores[i]) and scores[i] >= min_score]
    return sorted(dets, key=lambda d: -d.score)


class OnnxRunner:
    """A Runner over one onnxruntime session (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._session = None
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> Sequence[np.ndarray]:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    from facerec.runtime.onnx_runtime import open_session

                    self._session = open_session(self.path)
        return self._session.run(None, {"input": x})


class OnnxMTCNNDetector:
    """MTCNN on onnxruntime + numpy: the same detections as :class:`facerec.MTCNNDetector`
    without importing torch. Sessions are opened on the first :meth:`detect`."""

    def __init__(self, config: MTCNNConfig | None = None, folder: str | Path | None = None) -> None:
        self.config = config or MTCNNConfig()
        self.pnet, self.rnet, self.onet = (OnnxRunner(mtcnn_onnx_path(n, Path(folder) if folder else None)) for n in NETS)

    def detect(self, image: ImageInput) -> list[Detection]:
        """Detect all faces in ``image``; highest score first."""
        rgb = load_image(image)
        boxes, scores, points = run_cascade(rgb, self.config, self.pnet, self.rnet, self.onet)
        return to_detections(boxes, scores, points, self.config.min_score)

    def detect_many(self, images: Sequence[ImageInput]) -> list[list[Detection]]:
        """Detect faces in each image."""
        return [self.detect(im) for im in images]
