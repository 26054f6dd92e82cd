"""Margin-softmax losses for face recognition (pure torch).

``create_loss(name, embedding_dim, num_classes, **hyper)`` builds one of
:data:`LOSSES`; ``loss(embeddings (N, D), labels (N,))`` is the mean cross-entropy,
computed in float32 (float64 for float64 inputs) even under autocast.  Class
centres: ``loss.weight``, (num_classes, D); (num_classes·K, D) for sub-centres.

=================  ==========================================================
name               hyperparameters (defaults; angles in radians)
=================  ==========================================================
softmax            bias=True
normface           scale=20
sphereface         margin=4 (integer), lambda_base=1000, lambda_gamma=0.12,
                   lambda_power=1, lambda_min=5; ``step()``, ``set_iteration``
sphereface_norm    scale=64, margin=1.35 (m1)
cosface            scale=64, margin=0.35 (m3)
arcface            scale=64, margin=0.5 (m2), easy_margin=False
combined           scale=64, m1=1.0, m2=0.3, m3=0.2
subcenter_arcface  scale=64, margin=0.5, sub_centers=3
adaface            scale=64, margin=0.4, h=0.333, t_alpha=0.01
=================  ==========================================================

NormFace, CosFace, ArcFace, normalized SphereFace and their combination are one
:class:`Margin` each (:mod:`losses.margin`) over a :class:`NormalizedClassifier`;
the original A-Softmax, AdaFace and plain softmax have their own small modules.
:class:`DistillLoss` (:mod:`losses.distill`) pulls a student's embeddings towards a teacher's.
"""

from .adaface import AdaFaceLoss
from .classifier import NormalizedClassifier, cosine_matrix
from .distill import DistillLoss, cosine_distill, similarity_distill
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
from .registry import LOSSES, REGISTRY, LossSpec, create_loss, loss_defaults, margin_for
from .softmax import SoftmaxLoss
from .sphereface import ASoftmaxLoss, LambdaSchedule
from .subcenter import SubCenterClassifier

__all__ = [
    "ARCFACE",
    "ASoftmaxLoss",
    "AdaFaceLoss",
    "COMBINED",
    "COSFACE",
    "DistillLoss",
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
    "cosine_distill",
    "create_loss",
    "loss_defaults",
    "margin_for",
    "monotone_cos",
    "similarity_distill",
]
