"""Backbone ``onnx_graph``: a pretrained ONNX graph run (and trained) as torch ops.

Why a registered backbone: a model fine-tuned from an ONNX-only network (e.g. SFace) must be
saved as a facerec ``.pt`` and rebuilt by ``create_backbone`` like any other. Its
``backbone_kwargs`` carry the graph's structure (:func:`facerec.backbones.onnx_torch.read_graph`'s spec:
plain lists and strings), its ``state_dict`` the weights; no ``onnx`` package is needed to load it.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from facerec.backbones.registry import register_backbone


@register_backbone("onnx_graph")
def onnx_graph(graph: dict[str, Any], input_size: tuple[int, int] | None = None,
               embedding_size: int | None = None) -> nn.Module:
    """The module of ``graph`` (a :func:`~facerec.backbones.onnx_torch.read_graph` spec) with zero weights;
    ``input_size``/``embedding_size`` are checked against the graph when given."""
    from facerec.backbones.onnx_torch import OnnxGraphModule

    module = OnnxGraphModule(graph)
    if input_size is not None and module.input_size is not None and tuple(input_size) != tuple(module.input_size):
        raise ValueError(f"onnx_graph: input_size {tuple(input_size)} but the graph takes {module.input_size}")
    if embedding_size:
        module.embedding_size = int(embedding_size)
    return module
