"""Re-render an aligned crop at another pose of the generic face, and fill what the source
view could not see by soft symmetry.

Each output pixel's ray is cast onto the depth surface (marched front to back, then refined
by regula falsi): the first hit is the surface point seen there. Its position in the source
view gives the ``cv2.remap`` maps. The point is *hidden* in the source when the source ray
through it first hits the surface elsewhere (something in front of it, e.g. the nose, or the
far cheek turned away), or when the source saw it so obliquely that one source pixel would be
stretched over more than ``1/MIN_AREA`` output pixels (the far cheek of a turned face: a smear,
not a view). Only hidden pixels are filled, from the mirror point ``(−X, Y, Z)``
(the face is symmetric) where that one is visible, blended in over ``feather`` pixels from the
edge of the hidden region so no seam shows.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facerec.errors import ImageError
from facerec.pose.face3d import FaceModel
from facerec.pose.headpose import Pose

#: Ray-march step along the view direction, in crop pixels.
MARCH_STEP = 1.0
#: Surface points farther apart than this (crop pixels) are different points.
SAME_POINT_TOL = 1.0
#: Smallest source area per output pixel (|det| of the map's Jacobian) that counts as seen.
MIN_AREA = 0.4


@dataclass(frozen=True)
class Rendering:
    """A rendered view: ``image`` (H, W, 3) uint8; ``hidden`` (H, W) bool, the pixels whose
    surface point the source view did not see; ``filled`` (H, W) float32 in [0, 1], the
    weight of the mirrored sample (0 outside ``hidden``); ``map_x/map_y`` (H, W) float32,
    where each pixel was sampled from in the source crop."""

    image: np.ndarray
    hidden: np.ndarray
    filled: np.ndarray
    map_x: np.ndarray
    map_y: np.ndarray


def cast_rays(model: FaceModel, pose: Pose, pixels: np.ndarray) -> np.ndarray:
    """(N, 2) crop pixels of view ``pose`` → (N, 3) model points first hit by their rays."""
    rt = pose.rotation.T
    q = (np.asarray(pixels, dtype=np.float64) - pose.offset) / pose.scale  # camera-plane coordinates
    a = (q @ rt[:, :2].T).astype(np.float32)  # (N, 3) ray point at camera depth 0, model frame
    d = rt[:, 2].astype(np.float32)  # (3,) view direction in the model frame
    if d[2] < 1e-3:
        raise ValueError("view direction parallel to the face plane: no surface in sight")
    # March only across the slab z_min ≤ Z ≤ z_max where the surface lives.
    lam0 = (model.z_min - a[:, 2]) / d[2]  # (N,)
    steps = int(np.ceil((model.z_max - model.z_min) / d[2] / MARCH_STEP)) + 1
    lam = lam0[:, None] + MARCH_STEP * np.arange(steps, dtype=np.float32)[None, :]  # (N, S)
    pts = a[:, None, :] + lam[..., None] * d  # (N, S, 3)
    f = pts[..., 2] - model.surface_z_fast(pts[..., 0], pts[..., 1])  # < 0: in front of the surface
    behind = f >= 0
    k = np.where(behind.any(1), behind.argmax(1), steps - 1)
    k = np.maximum(k, 1)
    rows = np.arange(len(a))
    lo, hi = lam[rows, k - 1], lam[rows, k]
    flo, fhi = f[rows, k - 1], f[rows, k]
    for _ in range(3):  # regula falsi inside the bracketing step
        den = np.where(np.abs(fhi - flo) > 1e-12, fhi - flo, 1e-12)
        mid = lo - flo * (hi - lo) / den
        p = a + mid[:, None] * d
        fm = p[:, 2] - model.surface_z_fast(p[:, 0], p[:, 1])
        front = fm < 0
        lo, flo = np.where(front, mid, lo), np.where(front, fm, flo)
        hi, fhi = np.where(front, hi, mid), np.where(front, fhi, fm)
    return (a + mid[:, None] * d).astype(np.float64)


def visible_in(model: FaceModel, pose: Pose, points: np.ndarray) -> np.ndarray:
    """(N,) bool: is each model point the first surface point on its ray in view ``pose``?"""
    first = cast_rays(model, pose, pose.project(points))
    return np.linalg.norm(first - points, axis=1) < SAME_POINT_TOL


def map_area(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """(H, W) source pixels per output pixel: |det| of the Jacobian of the remap maps."""
    dxdv, dxdu = np.gradient(map_x)
    dydv, dydu = np.gradient(map_y)
    return np.abs(dxdu * dydv - dxdv * dydu)


def _pixel_grid(width: int, height: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return np.column_stack([xs.ravel(), ys.ravel()])


def render(crop: np.ndarray, model: FaceModel, source: Pose, target: Pose, fill: bool = True,
           feather: float = 4.0) -> Rendering:
    """Re-render ``crop`` (any (H, W, 3) uint8 image: an aligned crop, or the whole photo with
    ``source`` in its pixels), seen at pose ``source``, as a template-sized crop seen at ``target``.

    ``fill``: replace pixels hidden in the source by their mirror image (soft symmetry).
    Samples beyond the source image's edge are mirrored back in (``BORDER_REFLECT_101``).
    """
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise ImageError(f"expected an (H, W, 3) uint8 image, got {crop.dtype} {crop.shape}")
    w, h = model.size
    pts = cast_rays(model, target, _pixel_grid(w, h))  # (H·W, 3)
    src_xy = source.project(pts).astype(np.float32)
    map_x, map_y = src_xy[:, 0].reshape(h, w), src_xy[:, 1].reshape(h, w)
    out = cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    hidden = ~visible_in(model, source, pts).reshape(h, w) | (map_area(map_x, map_y) < MIN_AREA)
    weight = np.zeros((h, w), np.float32)
    if fill and hidden.any():
        mirror = pts * np.array([-1.0, 1.0, 1.0])
        m_xy = source.project(mirror).astype(np.float32)
        mirrored = cv2.remap(crop, m_xy[:, 0].reshape(h, w), m_xy[:, 1].reshape(h, w), cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT_101)
        mirror_ok = map_area(m_xy[:, 0].reshape(h, w), m_xy[:, 1].reshape(h, w)) >= MIN_AREA
        mirror_ok[hidden] &= visible_in(model, source, mirror[hidden.ravel()])
        # Distance (px) from each hidden pixel to the nearest visible one: the blend ramps up from the edge.
        dist = cv2.distanceTransform(hidden.astype(np.uint8), cv2.DIST_L2, 3)
        weight = np.where(hidden & mirror_ok, np.minimum(1.0, dist / feather), 0.0).astype(np.float32)
        out = (out * (1 - weight[..., None]) + mirrored * weight[..., None] + 0.5).astype(np.uint8)
    return Rendering(out, hidden, weight, map_x, map_y)
