"""Face processing between alignment and embedding: head pose on a generic 3D face,
re-rendering an aligned crop at another pose (one-to-many) and frontalisation (many-to-one).

No learned generator: a parametric depth surface (:mod:`.face3d`), ``cv2.solvePnP`` for the
pose (:mod:`.headpose`), ray casting + ``cv2.remap`` with soft-symmetric filling
(:mod:`.render`), and the crop-level operations (:mod:`.views`).
"""
from __future__ import annotations

from facerec.pose.face3d import FaceModel, SurfaceParams, generic_face
from facerec.pose.headpose import Pose, estimate_pose, landmarks_in_crop, rotation_matrix
from facerec.pose.render import Rendering, render
from facerec.pose.views import (face_pose, face_views, frontalize_crop, frontalize_face, render_face, rotate_crop,
                    synthesis_yaws, synthesize_views, template_for)

__all__ = ["FaceModel", "Pose", "Rendering", "SurfaceParams", "estimate_pose", "face_pose", "face_views",
           "frontalize_crop", "frontalize_face", "generic_face", "landmarks_in_crop", "render", "render_face",
           "rotate_crop", "rotation_matrix", "synthesis_yaws", "synthesize_views", "template_for"]
