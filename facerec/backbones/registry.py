"""A strict registry of embedding backbones: duplicate names raise, unknown names raise."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

BackboneFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator adding a factory under ``name``; registering a name twice is an error."""

    def deco(fn: BackboneFactory) -> BackboneFactory:
        if name in _REGISTRY:
            raise ValueError(f"backbone {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return deco


def create_backbone(name: str, **kwargs: Any) -> nn.Module:
    """Build backbone ``name`` (e.g. ``create_backbone("iresnet50", embedding_size=512)``).

    Every backbone maps (N, 3, H, W) normalised crops to (N, embedding_size) embeddings
    (not normalised) and exposes ``embedding_size`` and ``input_size`` (H, W).
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(_REGISTRY)}") from None
    return factory(**kwargs)


def list_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(_REGISTRY)
