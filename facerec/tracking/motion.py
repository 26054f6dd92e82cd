"""Boxes in motion: overlap (IoU) and the constant-velocity model that predicts a track's box on
frames without detection."""
from __future__ import annotations

import numpy as np


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


def predict_box(box: np.ndarray, velocity: np.ndarray, dt: float) -> np.ndarray:
    """(4,) box ``dt`` frames after ``box`` at ``velocity`` (pixels per frame of each corner);
    a box never collapses below 1 pixel."""
    b = box + velocity * dt
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    w, h = max(1.0, b[2] - b[0]), max(1.0, b[3] - b[1])
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def update_velocity(velocity: np.ndarray, old: np.ndarray, new: np.ndarray, dt: int, smoothing: float,
                    first: bool) -> np.ndarray:
    """The velocity after a detection ``new`` ``dt`` frames after ``old``: the measurement mixed
    in with weight ``smoothing``; the first measurement is taken whole, so a constant motion
    is then predicted exactly."""
    if dt <= 0:
        return velocity
    measured = (new - old) / dt
    a = 1.0 if first else smoothing
    return (1.0 - a) * velocity + a * measured


def box_jumped(predicted: np.ndarray, detected: np.ndarray, min_iou: float, max_scale: float) -> bool:
    """Whether a matched detection lies far from where its track was expected (IoU below
    ``min_iou``) or changed height by more than ``max_scale`` times: motion alone no longer
    vouches that it is the same face."""
    iou = float(iou_matrix(predicted[None], detected[None])[0, 0])
    hp, hd = max(1e-6, predicted[3] - predicted[1]), max(1e-6, detected[3] - detected[1])
    return iou < min_iou or max(hp / hd, hd / hp) > max_scale
