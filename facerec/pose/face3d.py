"""A generic 3D face over an aligned crop: a smooth parametric depth surface and the 3D
positions of the alignment template's 5 landmarks on it.

The surface is built here from a few documented terms, not fitted to or taken from any 3D
face dataset. Coordinates are the *model frame*, in crop pixels, OpenCV camera convention:
``X`` right, ``Y`` down, ``Z`` away from the camera; the origin is the centroid of the
template's landmarks, at their mean depth (so a rotation about the origin keeps the face
roughly where alignment put it). In units of the template's eye distance ``e`` (35.2 px for
ArcFace 112×112) and with ``x = X/e``, ``y = Y/e``, the relief towards the camera is

    relief(x, y) = H·exp(−(x/σx)⁴/2 − y²/2σy²)                         head: flat front, steep sides
                 + N·exp(−x²/2σn²)·exp(−(y − y_tip)²/2σ(y)²)            nose ridge
                 − E·Σ± exp(−((x ∓ x_eye)² + (y − y_eye)²)/2σe²)         eye sockets

with σ(y) = σ_up above the nose tip (a ridge up to the brow) and σ_down below it (a sharp
underside); ``Z = relief(origin) − relief`` after centring. The defaults are rough adult
proportions: the front of the face is nearly flat across the eyes (the quartic), the sides
fall back steeply from about one eye distance out (by 0.6 e ≈ 40 mm at x = 1), the nose tip
stands ≈ 0.35 e ≈ 22 mm in front of the eyes and the mouth corners at about eye depth. The relief is even in ``x``: the face is
left-right symmetric about ``X = 0``, which soft-symmetric filling relies on.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import cv2
import numpy as np

from facerec.alignment import ARCFACE_112, Template, get_template


@dataclass(frozen=True)
class SurfaceParams:
    """Shape parameters of the relief, in eye distances (see the module docstring)."""

    head: float = 1.00
    head_sigma_x: float = 0.80
    head_sigma_y: float = 1.10
    nose: float = 0.30
    nose_sigma_x: float = 0.12
    nose_sigma_up: float = 0.45
    nose_sigma_down: float = 0.12
    eye_socket: float = 0.05
    eye_socket_sigma: float = 0.15


class FaceModel:
    """The generic face for one alignment template (build with :func:`generic_face`)."""

    def __init__(self, template: Template, params: SurfaceParams = SurfaceParams()) -> None:
        self.template = template
        self.params = params
        pts = template.points.astype(np.float64)
        self.size = template.size  # (width, height) of the crop
        self.origin = pts.mean(0)  # (2,) crop pixel of the model origin
        self.eye_distance = float(np.linalg.norm(pts[1] - pts[0]))
        rel = (pts - self.origin) / self.eye_distance  # (5, 2) in eye distances
        self._nose_tip_y = float(rel[2, 1])
        self._eye_x = float((rel[1, 0] - rel[0, 0]) / 2)
        self._eye_y = float((rel[0, 1] + rel[1, 1]) / 2)
        lm_relief = self.relief(pts[:, 0] - self.origin[0], pts[:, 1] - self.origin[1])
        self._z0 = float(lm_relief.mean())  # depth of the origin: the landmarks' mean relief
        # Bounds of Z over the plane, for ray marching (relief ∈ [−E, H + N]).
        e = self.eye_distance
        self.z_min = self._z0 - (params.head + params.nose) * e - 1.0
        self.z_max = self._z0 + params.eye_socket * e + 1.0

    def relief(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height towards the camera (crop pixels) at model-frame ``x, y`` (crop pixels; any shape)."""
        p, e = self.params, self.eye_distance
        x = np.asarray(x, dtype=np.float32) / e
        y = np.asarray(y, dtype=np.float32) / e
        x2 = x * x
        head = p.head * np.exp(-0.5 * (x2 / p.head_sigma_x ** 2) ** 2 - y * y / (2 * p.head_sigma_y ** 2))
        dy = y - self._nose_tip_y
        sig = np.where(dy < 0, p.nose_sigma_up, p.nose_sigma_down)
        nose = p.nose * np.exp(-x2 / (2 * p.nose_sigma_x ** 2) - dy * dy / (2 * sig * sig))
        ey2 = (y - self._eye_y) ** 2
        s2 = 2 * p.eye_socket_sigma ** 2
        sockets = p.eye_socket * (np.exp(-((x - self._eye_x) ** 2 + ey2) / s2)
                                  + np.exp(-((x + self._eye_x) ** 2 + ey2) / s2))
        return (head + nose - sockets) * e

    def surface_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Model-frame ``Z`` of the surface above ``x, y`` (smaller = nearer the camera)."""
        return self._z0 - self.relief(x, y)

    #: Sampling step (px) and margin beyond the crop (px) of the table :meth:`surface_z_fast` reads.
    LUT_STEP = 0.5
    LUT_MARGIN = 96

    @cached_property
    def _lut(self) -> tuple[np.ndarray, float, float]:
        w, h = self.size
        x = np.arange(-self.origin[0] - self.LUT_MARGIN, w - self.origin[0] + self.LUT_MARGIN, self.LUT_STEP)
        y = np.arange(-self.origin[1] - self.LUT_MARGIN, h - self.origin[1] + self.LUT_MARGIN, self.LUT_STEP)
        table = self.surface_z(x[None, :], y[:, None]).astype(np.float32)  # (len(y), len(x))
        return table, float(x[0]), float(y[0])

    def surface_z_fast(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:meth:`surface_z` read bilinearly from a table sampled every ``LUT_STEP`` px (the
        ray marcher's hot loop; within ~0.01 px of the formula); constant beyond the table."""
        table, x0, y0 = self._lut
        shape = np.shape(x)
        mx = ((np.asarray(x, np.float32) - x0) / self.LUT_STEP).ravel()
        my = ((np.asarray(y, np.float32) - y0) / self.LUT_STEP).ravel()
        n = mx.size
        cols = 1024  # cv2.remap maps are 2-D with sides < 32767: fold the points into rows
        pad = (-n) % cols
        mx, my = np.pad(mx, (0, pad)), np.pad(my, (0, pad))
        out = cv2.remap(table, mx.reshape(-1, cols), my.reshape(-1, cols), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        return out.ravel()[:n].reshape(shape)

    def landmarks_3d(self) -> np.ndarray:
        """(5, 3) float64 model-frame positions of the template's landmarks, on the surface."""
        xy = self.template.points.astype(np.float64) - self.origin
        return np.column_stack([xy, self.surface_z(xy[:, 0], xy[:, 1]).astype(np.float64)])


@lru_cache(maxsize=8)
def _generic_face(name: str) -> FaceModel:
    return FaceModel(get_template(name))


def generic_face(template: str | Template = ARCFACE_112) -> FaceModel:
    """The (cached) generic face of a named or given template."""
    if isinstance(template, str):
        return _generic_face(template)
    known = template.name in ("arcface_112", "sphereface_112x96")
    if known and np.array_equal(template.points, get_template(template.name).points):
        return _generic_face(template.name)
    return FaceModel(template)
