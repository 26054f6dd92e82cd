"""YuNet (OpenCV Zoo, MIT) with MTCNN's O-Net landmarks: the fast named detector ``yunet``.

YuNet (Wu et al. 2023, ``face_detection_yunet_2023mar.onnx``, 230 kB) runs through OpenCV's
``cv2.FaceDetectorYN`` in one pass over the image — no pyramid — so its cost is a few
milliseconds per 640×480. Its own five landmarks are coarser than MTCNN's for alignment (on
our LFW, SFace scores 99.02 % with them against 99.35 % with MTCNN's), so each YuNet box is
squared and passed once through MTCNN's O-Net (48×48 input), whose landmarks replace
YuNet's: 99.37 % (see the ``yunet`` card). The score stays YuNet's.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from facerec.io.image import ImageInput, load_image
from facerec.models.registry import PACKAGED_WEIGHTS
from facerec.types import Detection

#: The packaged YuNet file (sha256 in :data:`facerec.models.detectors.YUNET`).
YUNET_FILE = PACKAGED_WEIGHTS / "yunet_2023mar.onnx"


@dataclass(frozen=True)
class YuNetConfig:
    """YuNet settings: ``score_threshold`` on its face score, ``nms_threshold`` (IoU) between
    its boxes, ``refine``: replace its landmarks by MTCNN O-Net's (recommended)."""

    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    top_k: int = 5000
    refine: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.score_threshold < 1.0:
            raise ValueError("score_threshold must be in (0, 1)")
        if not 0.0 < self.nms_threshold <= 1.0:
            raise ValueError("nms_threshold must be in (0, 1]")
        if self.top_k < 1:
            raise ValueError("top_k must be >= 1")


class YuNetDetector:
    """YuNet boxes (OpenCV DNN) + O-Net landmarks (onnxruntime); no torch.

    One ``cv2.FaceDetectorYN`` per thread (its input size is state), created on first use.
    """

    def __init__(self, config: YuNetConfig | None = None, model: str | Path | None = None) -> None:
        from facerec.detection.mtcnn_onnx import OnnxRunner, mtcnn_onnx_path

        self.config = config or YuNetConfig()
        self.model = Path(model) if model is not None else YUNET_FILE
        self._local = threading.local()
        self.onet = OnnxRunner(mtcnn_onnx_path("onet"))

    def _net(self, width: int, height: int):  # cv2.FaceDetectorYN
        import cv2

        net = getattr(self._local, "net", None)
        if net is None:
            c = self.config
            net = cv2.FaceDetectorYN.create(str(self.model), "", (width, height), c.score_threshold,
                                            c.nms_threshold, c.top_k)
            self._local.net = net
        net.setInputSize((width, height))
        return net

    def detect(self, image: ImageInput) -> list[Detection]:
        """Detect all faces in ``image``; highest score first."""
        rgb = load_image(image)
        h, w = rgb.shape[:2]
        # YuNet takes BGR (OpenCV's order). Rows: x y w h, 5 landmarks (x, y), score.
        _, rows = self._net(w, h).detect(np.ascontiguousarray(rgb[:, :, ::-1]))
        if rows is None or len(rows) == 0:
            return []
        rows = np.asarray(rows, np.float32).reshape(-1, 15)
        boxes = np.stack([rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2], rows[:, 1] + rows[:, 3]], axis=1)
        # YuNet's landmark order is right eye, left eye, nose, right and left mouth corner of the
        # *subject*, i.e. image-left first: the same order as facerec's (as seen in the image).
        points = rows[:, 4:14].reshape(-1, 5, 2)
        if self.config.refine:
            points = onet_landmarks(rgb, boxes, self.onet, points)
        order = np.argsort(-rows[:, 14], kind="stable")
        return [Detection(box=boxes[i].copy(), score=float(rows[i, 14]), landmarks=points[i].copy()) for i in order]

    def detect_many(self, images: Sequence[ImageInput]) -> list[list[Detection]]:
        """Detect faces in each image."""
        return [self.detect(im) for im in images]


def onet_landmarks(rgb: np.ndarray, boxes: np.ndarray, onet, fallback: np.ndarray) -> np.ndarray:
    """MTCNN O-Net's five landmarks (N, 5, 2) for boxes (N, 4) of the (H, W, 3) uint8 image:
    each box squared about its centre, cropped (clipped to the image), resampled to 48×48 and
    run once; rows whose crop is empty keep ``fallback``."""
    from facerec.detection.mtcnn_onnx import crops, normalise, onet_points, square

    sq = square(boxes.astype(np.float32))
    patches, kept = crops(rgb.astype(np.float32), sq, 48)
    out = fallback.astype(np.float32).copy()
    if len(kept) == 0:
        return out
    _, marks, _ = onet(normalise(patches))
    out[kept] = onet_points(sq[kept], marks)
    return out
