"""Embedding backbones behind a strict registry; importing this package registers them all."""
from facerec.backbones import iresnet, mobilefacenet, onnx_graph, sphereface  # noqa: F401  (registration side effects)
from facerec.backbones.registry import create_backbone, list_backbones, register_backbone

__all__ = ["create_backbone", "list_backbones", "register_backbone"]
