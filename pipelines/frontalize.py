"""The workflow behind ``facerec frontalize PHOTO --out grid.png`` (its command line: :mod:`pipelines.cli.frontalize`):
A picture of the pose stage on one face.

Top row: the photo (face box and landmarks drawn), the aligned crop with its estimated head
pose, its frontal view, and where that view was filled by symmetry (tinted). Bottom row: the
face re-rendered at other yaws. Rendered on a generic 3D face (:mod:`facerec.pose`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from facerec import ARCFACE_112, NoFaceError, align_face, load_image
from facerec.detection.detector import Detector, choose_face
from facerec.pose import Pose, face_pose, face_views, render_face

DEFAULT_YAWS = (-45.0, -30.0, -15.0, 15.0, 30.0, 45.0)
TILE = 224  # px: crops shown at 2×
LABEL_H = 26


@dataclass(frozen=True)
class PoseFigure:
    """The pieces of the picture: ``pose`` of the face, and the (H, W, 3) uint8 RGB grid."""

    pose: Pose
    grid: np.ndarray


def _tile(img: np.ndarray, label: str) -> np.ndarray:
    """``img`` fitted into a TILE×TILE white square, with ``label`` underneath."""
    h, w = img.shape[:2]
    s = TILE / max(h, w)
    img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_CUBIC)
    out = np.full((TILE + LABEL_H, TILE, 3), 255, np.uint8)
    y0, x0 = (TILE - img.shape[0]) // 2, (TILE - img.shape[1]) // 2
    out[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
    cv2.putText(out, label, (6, TILE + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def pose_figure(image: np.ndarray, landmarks: np.ndarray, box: np.ndarray | None = None,
                yaws: Sequence[float] = DEFAULT_YAWS) -> PoseFigure:
    """The grid for the face with image ``landmarks`` (5, 2) in RGB ``image``."""
    tpl = ARCFACE_112
    crop = align_face(image, landmarks, tpl)
    pose = face_pose(landmarks, tpl)
    front = render_face(image, landmarks, 0.0, None, tpl)
    tint = front.image.copy()
    tint[front.filled > 0] = (0.5 * tint[front.filled > 0] + [127, 0, 0]).astype(np.uint8)
    shown = image.copy()
    thick = max(1, round(max(image.shape[:2]) / 250))
    if box is not None:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(shown, (x1, y1), (x2, y2), (0, 200, 0), thick)
    for x, y in np.asarray(landmarks):
        cv2.circle(shown, (int(round(float(x))), int(round(float(y)))), 2 * thick, (255, 0, 0), -1)
    top = [_tile(shown, "input"), _tile(crop, f"aligned: yaw {pose.yaw:+.0f}, pitch {pose.pitch:+.0f}"),
           _tile(front.image, "frontal view (yaw 0)"),
           _tile(tint, f"filled by symmetry: {100 * float((front.filled > 0).mean()):.0f}%")]
    bottom = [_tile(v, f"yaw {y:+.0f}") for v, y in zip(face_views(image, landmarks, yaws, tpl), yaws)]
    cols = max(len(top), len(bottom))
    blank = np.full_like(top[0], 255)
    rows = [np.hstack(r + [blank] * (cols - len(r))) for r in (top, bottom) if r]
    return PoseFigure(pose, np.vstack(rows))


def frontalize_photo(path: str | os.PathLike, detector: Detector, out: str | os.PathLike,
                     yaws: Sequence[float] = DEFAULT_YAWS) -> PoseFigure:
    """Detect the face nearest the centre of the photo at ``path``, write its grid to ``out``."""
    rgb = load_image(path)
    h, w = rgb.shape[:2]
    det = choose_face(detector.detect(rgb), "central", w, h)
    if det is None:
        raise NoFaceError(f"no face found in {path}")
    fig = pose_figure(rgb, det.landmarks, det.box, yaws)
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--out must end in .png or .jpg, got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(fig.grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {out}")
    return fig
