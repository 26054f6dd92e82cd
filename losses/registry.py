"""Loss registry: ``create_loss(name, embedding_dim, num_classes, **hyper)``.

Each entry lists its hyperparameters with the papers' defaults; unknown names
and unknown hyperparameters raise ValueError.  Angles are in radians.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

from torch import nn

from ._checks import check_positive_int
from .adaface import AdaFaceLoss
from .margin import Margin
from .margin_loss import MarginLoss
from .softmax import SoftmaxLoss
from .sphereface import ASoftmaxLoss
from .subcenter import SubCenterClassifier


@dataclass(frozen=True)
class LossSpec:
    """A registry entry: the builder and its hyperparameters with defaults."""

    name: str
    build: Callable[..., nn.Module]  # build(embedding_dim, num_classes, **hyper)
    defaults: Mapping[str, Any]
    doc: str


def _margin(**to_fields: str) -> Callable[..., nn.Module]:
    """Builder for a Margin preset; ``to_fields`` maps hyperparameter → Margin field."""

    def build(embedding_dim: int, num_classes: int, **hyper: Any) -> nn.Module:
        fields = {to_fields.get(k, k): v for k, v in hyper.items()}
        return MarginLoss(embedding_dim, num_classes, Margin(**fields))

    return build


def _subcenter(
    embedding_dim: int, num_classes: int, *, scale: float, margin: float, sub_centers: int
) -> nn.Module:
    classifier = SubCenterClassifier(embedding_dim, num_classes, sub_centers)
    return MarginLoss(embedding_dim, num_classes, Margin(scale=scale, m2=margin), classifier)


_SPECS: tuple[LossSpec, ...] = (
    LossSpec("softmax", SoftmaxLoss, {"bias": True}, "FC + bias, plain softmax (DeepFace/DeepID)"),
    LossSpec(
        "normface",
        _margin(),
        {"scale": 20.0},
        "normalized features and weights, s·cos θ (s = 20: pml's temperature 0.05)",
    ),
    LossSpec(
        "sphereface",
        ASoftmaxLoss,
        {
            "margin": 4,
            "lambda_base": 1000.0,
            "lambda_gamma": 0.12,
            "lambda_power": 1.0,
            "lambda_min": 5.0,
        },
        "original A-Softmax: ‖x‖·ψ(θ), integer m, λ-annealed mix with softmax",
    ),
    LossSpec(
        "sphereface_norm",
        _margin(margin="m1"),
        {"scale": 64.0, "margin": 1.35},
        "s·ψ(m·θ_y): normalized SphereFace as in the ArcFace paper",
    ),
    LossSpec("cosface", _margin(margin="m3"), {"scale": 64.0, "margin": 0.35}, "s·(cos θ_y − m)"),
    LossSpec(
        "arcface",
        _margin(margin="m2"),
        {"scale": 64.0, "margin": 0.5, "easy_margin": False},
        "s·cos(θ_y + m)",
    ),
    LossSpec(
        "combined",
        _margin(),
        {"scale": 64.0, "m1": 1.0, "m2": 0.3, "m3": 0.2},
        "s·(cos(m1·θ_y + m2) − m3), all three at once",
    ),
    LossSpec(
        "subcenter_arcface",
        _subcenter,
        {"scale": 64.0, "margin": 0.5, "sub_centers": 3},
        "ArcFace on the max cosine over K sub-centres; weight is (C·K, D)",
    ),
    LossSpec(
        "adaface",
        AdaFaceLoss,
        {"scale": 64.0, "margin": 0.4, "h": 0.333, "t_alpha": 0.01},
        "quality-adaptive margin from the feature norm",
    ),
)

REGISTRY: Mapping[str, LossSpec] = MappingProxyType({s.name: s for s in _SPECS})
LOSSES: tuple[str, ...] = tuple(REGISTRY)


def loss_defaults(name: str) -> dict[str, Any]:
    """The hyperparameters ``name`` accepts, with their defaults."""
    return dict(_spec(name).defaults)


def _spec(name: str) -> LossSpec:
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None


def create_loss(name: str, embedding_dim: int, num_classes: int, **hyper: Any) -> nn.Module:
    """Build loss ``name``; ``loss(embeddings (N, D), labels (N,))`` → mean cross-entropy.

    The class centres are ``loss.weight``: (num_classes, embedding_dim), except
    ``subcenter_arcface``: (num_classes * sub_centers, embedding_dim).
    """
    spec = _spec(name)
    unknown = sorted(set(hyper) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {unknown} for loss {name!r}; "
            f"accepted: {sorted(spec.defaults)}"
        )
    embedding_dim = check_positive_int("embedding_dim", embedding_dim)
    num_classes = check_positive_int("num_classes", num_classes)
    return spec.build(embedding_dim, num_classes, **{**spec.defaults, **hyper})
