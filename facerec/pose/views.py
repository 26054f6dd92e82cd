"""The two uses of the pose stage: many-to-one (frontalise) and one-to-many (synthesise other
yaws). On a photo with its detected landmarks (``*_face``: rendered straight from the photo,
so turned views show what lies beyond the crop) or on an aligned crop (``*_crop``: for
training crops; the crop's pose comes from its landmarks in crop pixels, and without them
the crop is taken as the template's own, frontal view).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from facerec.alignment import ARCFACE_112, Template, estimate_similarity, get_template
from facerec.errors import ImageError
from facerec.pose.face3d import FaceModel, generic_face
from facerec.pose.headpose import Pose, estimate_pose, landmarks_in_crop
from facerec.pose.render import Rendering, render

#: Default largest |yaw| of synthesised views, degrees.
DEFAULT_MAX_YAW = 30.0


def template_for(crop: np.ndarray, template: str | Template | None = None) -> Template:
    """``template`` resolved; None picks the known template whose size matches ``crop``."""
    if isinstance(template, Template):
        return template
    if template is not None:
        return get_template(template)
    h, w = np.shape(crop)[:2]
    for name in ("arcface_112", "sphereface_112x96"):
        t = get_template(name)
        if t.size == (w, h):
            return t
    raise ImageError(f"no alignment template is {w}x{h}; pass template=")


def crop_pose(model: FaceModel, landmarks: np.ndarray | None) -> Pose:
    """Pose of a crop from its (5, 2) crop landmarks; the frontal template view without."""
    return Pose.frontal(model) if landmarks is None else estimate_pose(landmarks, model)


def frontalize_crop(crop: np.ndarray, landmarks: np.ndarray | None = None,
                    template: str | Template | None = None, fill: bool = True, pitch: bool = False) -> Rendering:
    """The frontal view (yaw 0) of an aligned crop whose landmarks (crop pixels) are ``landmarks``.

    ``pitch``: also bring the pitch to 0. Off by default: from 5 landmarks the pitch is mostly
    the detector's bias (MTCNN's nose sits low against the ArcFace template: median −9° on
    LFW), so the crop keeps its own.
    """
    model = generic_face(template_for(crop, template))
    source = crop_pose(model, landmarks)
    return render(crop, model, source, Pose.frontal(model, 0.0, 0.0 if pitch else source.pitch), fill=fill)


def rotate_crop(crop: np.ndarray, yaw: float, pitch: float = 0.0, landmarks: np.ndarray | None = None,
                template: str | Template | None = None, fill: bool = True) -> Rendering:
    """The crop re-rendered at head pose (``yaw``, ``pitch``) degrees (absolute, not relative
    to the crop's own pose; the same as relative without ``landmarks``)."""
    model = generic_face(template_for(crop, template))
    return render(crop, model, crop_pose(model, landmarks), Pose.frontal(model, yaw, pitch), fill=fill)


def synthesis_yaws(n: int, max_yaw: float = DEFAULT_MAX_YAW) -> list[float]:
    """``n`` view yaws alternating sides, outwards: +m/k, −m/k, +2m/k, ... (k = ⌈n/2⌉), so
    n = 2 gives ±max_yaw and n = 4 gives ±max_yaw/2, ±max_yaw."""
    if n < 0:
        raise ValueError(f"number of views must be >= 0, got {n}")
    k = math.ceil(n / 2)
    return [(1 if i % 2 == 0 else -1) * max_yaw * (i // 2 + 1) / k for i in range(n)]


def synthesize_views(crop: np.ndarray, yaws: Sequence[float], landmarks: np.ndarray | None = None,
                     template: str | Template | None = None) -> list[np.ndarray]:
    """The crop re-rendered at each yaw in ``yaws`` (pitch 0), hidden parts filled."""
    model = generic_face(template_for(crop, template))
    source = crop_pose(model, landmarks)
    return [render(crop, model, source, Pose.frontal(model, float(y))).image for y in yaws]


def face_pose(landmarks: np.ndarray, template: str | Template = ARCFACE_112) -> Pose:
    """Head pose of the face with image ``landmarks`` (5, 2), in its aligned crop's pixels."""
    tpl = template_for(None, template)
    return estimate_pose(landmarks_in_crop(landmarks, tpl), generic_face(tpl))


def render_face(image: np.ndarray, landmarks: np.ndarray, yaw: float = 0.0, pitch: float | None = None,
                template: str | Template = ARCFACE_112, fill: bool = True) -> Rendering:
    """The aligned crop of the face with image ``landmarks`` (5, 2), re-rendered from ``image``
    at head pose (``yaw``, ``pitch``) degrees; ``pitch`` None keeps the face's own. Raises
    ``AlignmentError`` for landmarks no head pose explains."""
    tpl = template_for(None, template)
    model = generic_face(tpl)
    lm = np.asarray(landmarks, dtype=np.float64)
    source = estimate_pose(landmarks_in_crop(lm, tpl), model)
    target = Pose.frontal(model, yaw, source.pitch if pitch is None else pitch)
    return render(image, model, source.in_image(estimate_similarity(lm, tpl.points)), target, fill=fill)


def frontalize_face(image: np.ndarray, landmarks: np.ndarray, template: str | Template = ARCFACE_112,
                    pitch: bool = False) -> np.ndarray:
    """The (H, W, 3) uint8 frontal (yaw 0) crop of the face with image ``landmarks`` (5, 2), the
    crop an embedder takes; ``pitch`` also levels the pitch (see :func:`frontalize_crop`)."""
    return render_face(image, landmarks, 0.0, 0.0 if pitch else None, template).image


def face_views(image: np.ndarray, landmarks: np.ndarray, yaws: Sequence[float],
               template: str | Template = ARCFACE_112) -> list[np.ndarray]:
    """Crops of the face with image ``landmarks`` re-rendered at each yaw in ``yaws`` (pitch 0)."""
    return [render_face(image, landmarks, float(y), 0.0, template).image for y in yaws]
