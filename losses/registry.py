"""Loss registry: ``create_loss(name, embedding_dim, num_classes, **hyper)``.

Each entry lists its hyperparameters with the papers' defaults; unknown names
and unknown hyperparameters raise ValueError.  Angles are in radians.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

from torch import nn

from ._checks import check_positive_int
from .adaface import AdaFaceLoss
from .margin import ARCFACE, PRESETS, Margin
from .margin_loss import MarginLoss
from .softmax import SoftmaxLoss
from .sphereface import ASoftmaxLoss
from .subcenter import SubCenterClassifier


@dataclass(frozen=True)
class LossSpec:
    """A registry entry: the builder and its hyperparameters with defaults.

    ``margin``: for the margin-softmax entries, hyperparameters → the :class:`Margin` the
    loss applies (also used alone, e.g. by sampled/sharded classifiers).
    """

    name: str
    build: Callable[..., nn.Module]  # build(embedding_dim, num_classes, **hyper)
    defaults: Mapping[str, Any]
    doc: str
    margin: Callable[..., Margin] | None = None


def _class_spec(name: str, cls: Callable[..., nn.Module], doc: str, internal: tuple[str, ...] = ()) -> LossSpec:
    """An entry whose defaults are the keyword defaults of ``cls(embedding_dim, num_classes, ...)``
    (the class is their one home); ``internal``: numerical constants not offered as
    hyperparameters."""
    params = list(inspect.signature(cls).parameters.values())[2:]
    return LossSpec(name, cls, {q.name: q.default for q in params if q.name not in internal}, doc)


def _margin_spec(name: str, preset: str, doc: str, **to_fields: str) -> LossSpec:
    """An entry for a :data:`PRESETS` margin; ``to_fields`` maps hyperparameter → Margin field
    (e.g. ``margin="m2"``). Its defaults are the preset's numbers, read from the preset."""
    fields = {f.name: getattr(PRESETS[preset], f.name) for f in dataclasses.fields(Margin)}
    defaults = {"scale": fields["scale"]}
    defaults.update({hyper: fields[field] for hyper, field in to_fields.items()})

    def margin(**hyper: Any) -> Margin:
        return Margin(**{to_fields.get(k, k): v for k, v in hyper.items()})

    def build(embedding_dim: int, num_classes: int, **hyper: Any) -> nn.Module:
        return MarginLoss(embedding_dim, num_classes, margin(**hyper))

    return LossSpec(name, build, defaults, doc, margin)


def _subcenter(
    embedding_dim: int, num_classes: int, *, scale: float = ARCFACE.scale, margin: float = ARCFACE.m2,
    sub_centers: int = 3
) -> nn.Module:
    classifier = SubCenterClassifier(embedding_dim, num_classes, sub_centers)
    return MarginLoss(embedding_dim, num_classes, Margin(scale=scale, m2=margin), classifier)


_SPECS: tuple[LossSpec, ...] = (
    _class_spec("softmax", SoftmaxLoss, "FC + bias, plain softmax (DeepFace/DeepID)"),
    _margin_spec("normface", "normface", "normalized features and weights, s·cos θ (s = 20: pml's temperature 0.05)"),
    _class_spec("sphereface", ASoftmaxLoss, "original A-Softmax: ‖x‖·ψ(θ), integer m, λ-annealed mix with softmax"),
    _margin_spec("sphereface_norm", "sphereface_norm", "s·ψ(m·θ_y): normalized SphereFace as in the ArcFace paper",
                 margin="m1"),
    _margin_spec("cosface", "cosface", "s·(cos θ_y − m)", margin="m3"),
    _margin_spec("arcface", "arcface", "s·cos(θ_y + m)", margin="m2", easy_margin="easy_margin"),
    _margin_spec("combined", "combined", "s·(cos(m1·θ_y + m2) − m3), all three at once", m1="m1", m2="m2", m3="m3"),
    _class_spec("subcenter_arcface", _subcenter, "ArcFace on the max cosine over K sub-centres; weight is (C·K, D)"),
    _class_spec("adaface", AdaFaceLoss, "quality-adaptive margin from the feature norm", internal=("eps",)),
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


def _checked(name: str, hyper: Mapping[str, Any]) -> tuple[LossSpec, dict[str, Any]]:
    """The entry ``name`` and ``hyper`` completed with its defaults (unknown keys raise)."""
    spec = _spec(name)
    unknown = sorted(set(hyper) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {unknown} for loss {name!r}; "
            f"accepted: {sorted(spec.defaults)}"
        )
    return spec, {**spec.defaults, **hyper}


def margin_for(name: str, **hyper: Any) -> Margin:
    """The :class:`Margin` that ``create_loss(name, ..., **hyper)`` applies, without building
    the loss; ValueError for a loss that is not a margin softmax over normalized centres."""
    spec, full = _checked(name, hyper)
    if spec.margin is None:
        margins = ", ".join(s.name for s in _SPECS if s.margin is not None)
        raise ValueError(f"loss {name!r} is not a margin loss over normalized centres; choose one of {margins}")
    return spec.margin(**full)


def create_loss(name: str, embedding_dim: int, num_classes: int, **hyper: Any) -> nn.Module:
    """Build loss ``name``; ``loss(embeddings (N, D), labels (N,))`` → mean cross-entropy.

    The class centres are ``loss.weight``: (num_classes, embedding_dim), except
    ``subcenter_arcface``: (num_classes * sub_centers, embedding_dim).
    """
    spec, full = _checked(name, hyper)
    embedding_dim = check_positive_int("embedding_dim", embedding_dim)
    num_classes = check_positive_int("num_classes", num_classes)
    return spec.build(embedding_dim, num_classes, **full)
