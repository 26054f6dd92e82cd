"""Margin-softmax losses for face recognition (pure torch).

``create_loss(name, embedding_dim, num_classes, **hyper)`` builds one of
:data:`LOSSES`; see :mod:`losses.registry` for hyperparameters and defaults.
NormFace, CosFace, ArcFace, normalized SphereFace and their combination are one
:class:`Margin` each (:mod:`losses.margin`); the original A-Softmax, AdaFace and
plain softmax have their own small modules.
"""

from .adaface import AdaFaceLoss
from .classifier import NormalizedClassifier, cosine_matrix
from .margin import (
    ARCFACE,
    COMBINED,
    COSFACE,
    NORMFACE,
    PRESETS,
    SPHEREFACE_NORM,
    Margin,
    monotone_cos,
)
from .margin_loss import MarginLoss
from .registry import LOSSES, REGISTRY, LossSpec, create_loss, loss_defaults
from .softmax import SoftmaxLoss
from .sphereface import ASoftmaxLoss, LambdaSchedule
from .subcenter import SubCenterClassifier

__all__ = [
    "ARCFACE",
    "ASoftmaxLoss",
    "AdaFaceLoss",
    "COMBINED",
    "COSFACE",
    "LOSSES",
    "LambdaSchedule",
    "LossSpec",
    "Margin",
    "MarginLoss",
    "NORMFACE",
    "NormalizedClassifier",
    "PRESETS",
    "REGISTRY",
    "SPHEREFACE_NORM",
    "SoftmaxLoss",
    "SubCenterClassifier",
    "cosine_matrix",
    "create_loss",
    "loss_defaults",
    "monotone_cos",
]
