"""Head pose of an aligned crop: a rotation of the generic face plus a weak-perspective
camera, estimated from the 5 landmarks with ``cv2.solvePnP``.

Angles in degrees, as seen in the image: positive yaw moves the nose towards image right
(the person turns to their left), positive pitch moves it up, positive roll turns the face
clockwise on screen.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facerec.alignment import Template, estimate_similarity
from facerec.errors import AlignmentError
from facerec.pose.face3d import FaceModel

#: Poses beyond these are refused: a 5-point detector's landmarks stop meaning anything there.
MAX_YAW = 75.0
MAX_PITCH = 60.0
#: Largest RMS landmark reprojection error (in eye distances) a face pose may leave.
MAX_REPROJECTION = 0.25


def rotation_matrix(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """(3, 3) model→camera rotation for angles in degrees (conventions in the module docstring)."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])  # R_y(−yaw)
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])  # R_x(−pitch)
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


@dataclass(frozen=True)
class Pose:
    """Weak-perspective view of the model: crop pixel = ``scale·(R·P)[:2] + offset``;
    camera depth ``(R·P)[2]`` (larger = farther)."""

    rotation: np.ndarray  # (3, 3)
    scale: float
    offset: np.ndarray  # (2,) crop pixel of the model origin

    @classmethod
    def frontal(cls, model: FaceModel, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> "Pose":
        """The template's own view (scale 1, origin where alignment puts it), rotated by the angles."""
        return cls(rotation_matrix(yaw, pitch, roll), 1.0, model.origin.astype(np.float64))

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) model points → (N, 2) crop pixels."""
        return self.scale * (np.asarray(points) @ self.rotation.T)[:, :2] + self.offset

    def in_image(self, matrix: np.ndarray) -> "Pose":
        """This crop pose in the pixels of the image the crop was warped from by the
        similarity ``matrix`` (2, 3) (image → crop, as :func:`~facerec.alignment.estimate_similarity`)."""
        m = np.asarray(matrix, dtype=np.float64)
        inv = cv2.invertAffineTransform(m)
        k = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        rz = np.eye(3)
        rz[:2, :2] = inv[:, :2] * k  # the image-plane rotation, folded into R as a roll
        return Pose(rz @ self.rotation, self.scale / k, inv[:, :2] @ self.offset + inv[:, 2])

    # R = Rz(roll)·Rx(−pitch)·Ry(−yaw) (see rotation_matrix): its last row, (cos p·sin y, −sin p,
    # cos p·cos y), does not depend on the roll; R[0,1] = −sin r·cos p and R[1,1] = cos r·cos p.
    @property
    def yaw(self) -> float:
        return float(np.degrees(np.arctan2(self.rotation[2, 0], self.rotation[2, 2])))

    @property
    def pitch(self) -> float:
        return float(np.degrees(np.arcsin(np.clip(-self.rotation[2, 1], -1.0, 1.0))))

    @property
    def roll(self) -> float:
        return float(np.degrees(np.arctan2(-self.rotation[0, 1], self.rotation[1, 1])))


def landmarks_in_crop(landmarks: np.ndarray, template: Template) -> np.ndarray:
    """(5, 2) image landmarks → where the similarity alignment onto ``template`` puts them."""
    m = estimate_similarity(np.asarray(landmarks, dtype=np.float64), template.points)
    return np.asarray(landmarks, dtype=np.float64) @ m[:, :2].T + m[:, 2]


def estimate_pose(crop_landmarks: np.ndarray, model: FaceModel) -> Pose:
    """Pose of the generic face that best explains ``crop_landmarks`` (5, 2) of an aligned crop.

    ``cv2.solvePnP`` (iterative, from the frontal pose) with a long-focal camera, read as weak
    perspective. Raises :class:`AlignmentError` for non-finite landmarks, a pose beyond
    ±``MAX_YAW``/±``MAX_PITCH`` or landmarks no face pose explains.
    """
    img = np.asarray(crop_landmarks, dtype=np.float64).reshape(-1, 2)
    if img.shape != (5, 2) or not np.isfinite(img).all():
        raise AlignmentError(f"pose needs 5 finite landmarks, got shape {np.shape(crop_landmarks)}")
    obj = model.landmarks_3d()
    focal = 50.0 * model.eye_distance  # a far camera: perspective ≈ orthographic
    cam = np.array([[focal, 0, model.origin[0]], [0, focal, model.origin[1]], [0, 0, 1]])
    rvec, tvec = np.zeros((3, 1)), np.array([[0.0], [0.0], [focal]])
    ok, rvec, tvec = cv2.solvePnP(obj, img, cam, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or not (np.isfinite(rvec).all() and np.isfinite(tvec).all()) or tvec[2, 0] <= 0:
        raise AlignmentError("landmarks do not fit a head pose")
    tz = float(tvec[2, 0])
    pose = Pose(cv2.Rodrigues(rvec)[0], focal / tz, model.origin + focal * tvec[:2, 0] / tz)
    if abs(pose.yaw) > MAX_YAW or abs(pose.pitch) > MAX_PITCH:
        raise AlignmentError(f"head pose out of range: yaw {pose.yaw:.0f}°, pitch {pose.pitch:.0f}° "
                             f"(limits ±{MAX_YAW:.0f}°, ±{MAX_PITCH:.0f}°)")
    rms = float(np.sqrt(((pose.project(obj) - img) ** 2).sum(1).mean()))
    if rms > MAX_REPROJECTION * model.eye_distance * pose.scale:
        raise AlignmentError(f"landmarks do not fit a face (reprojection error {rms:.1f} px)")
    return pose
