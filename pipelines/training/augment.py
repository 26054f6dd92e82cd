"""Training augmentations on aligned uint8 crops, before THE preprocessing.

Each sample draws from its own generator seeded by (seed, epoch, index), so the augmented
data are the same whatever the worker count and after ``--resume``.
"""
from __future__ import annotations

import cv2
import numpy as np

from .config import AugmentConfig


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample's augmentation draws."""
    return np.random.default_rng([seed, epoch, index])


def to_grayscale(crop: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB → grey replicated in 3 channels (ITU-R 601 luma, as LFW's grey JPEGs)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[:, :, None], 3, axis=2)


def downscale(crop: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by ``factor`` (area filter) and enlarge back (bilinear): a low-resolution face."""
    h, w = crop.shape[:2]
    small = cv2.resize(crop, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def rotate_pose(crop: np.ndarray, yaw: float) -> np.ndarray:
    """The aligned crop (taken as the template's frontal view) re-rendered at ``yaw`` degrees
    on the generic 3D face, hidden parts filled by symmetry."""
    from facerec.pose import rotate_crop  # imported on use: only pose-augmented runs need it

    return rotate_crop(np.ascontiguousarray(crop), yaw).image


def augment(crop: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Random pose (yaw), horizontal flip, grayscale and downscale of one (H, W, 3) uint8 crop.

    Always draws the same number of random values, so one sample's draws never depend on
    another's outcome (the pose draws come last: the first four are those of the
    augmentations that predate them).
    """
    u = rng.random(6)
    out = crop
    if u[4] < cfg.pose:
        out = rotate_pose(out, cfg.pose_yaw * (2.0 * u[5] - 1.0))
    if u[0] < cfg.flip:
        out = out[:, ::-1]
    if u[1] < cfg.grayscale:
        out = to_grayscale(np.ascontiguousarray(out))
    if u[2] < cfg.downscale:
        out = downscale(np.ascontiguousarray(out), cfg.downscale_min + (1.0 - cfg.downscale_min) * u[3])
    return np.ascontiguousarray(out)
