"""``facerec export --weights W --format onnx --out model.onnx``: the embedder as ONNX.

The graph maps a preprocessed batch ``input`` (N, 3, H, W) float32 — aligned crops after
:class:`facerec.preprocessing.Preprocessing`, whose spec is stored in the model's metadata
(``facerec.preprocessing``) — to ``embedding`` (N, D) float32, L2-normalised, like
:meth:`facerec.embedder.Embedder.embed_tensor` (without flip augmentation). The batch axis
is dynamic.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facerec.atomic import atomic_path

from facerec.embedder import Embedder

log = logging.getLogger(__name__)

FORMATS = ("onnx",)
DEFAULT_OPSET = 17


class NormalizedEmbedding(nn.Module):
    """backbone → L2 normalisation: the embedder's output as one module."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) → (N, D)
        return F.normalize(self.backbone(x), dim=1)


def export_onnx(embedder: Embedder, out: str | os.PathLike, opset: int = DEFAULT_OPSET) -> dict[str, Any]:
    """Write ``embedder`` as an ONNX model (atomically); returns the metadata stored in it."""
    import onnx

    w, h = embedder.preprocessing.size
    model = NormalizedEmbedding(embedder.model).eval().to("cpu", memory_format=torch.contiguous_format)
    dummy = torch.zeros(2, 3, h, w)
    meta = {"facerec.backbone": embedder.backbone_name, "facerec.fingerprint": embedder.fingerprint(),
            "facerec.preprocessing": json.dumps(embedder.preprocessing.to_dict()),
            "facerec.embedding_size": str(embedder.embedding_size)}
    if "threshold" in embedder.metadata:
        meta["facerec.threshold"] = str(float(embedder.metadata["threshold"]))
    with atomic_path(out) as tmp:
        with torch.no_grad():
            # TorchScript-based exporter: needs no onnxscript, and gives a plain dynamic batch axis.
            torch.onnx.export(model, (dummy,), str(tmp), input_names=["input"], output_names=["embedding"],
                              dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        proto = onnx.load(str(tmp))
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return meta


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model checkpoint (ONNX)",
                       description="Export an embedder checkpoint to ONNX: input 'input' (N, 3, H, W) float32 "
                                   "preprocessed crops, output 'embedding' (N, D) L2-normalised; dynamic batch. "
                                   "The preprocessing spec and threshold are stored as metadata.")
    p.add_argument("--weights", required=True, metavar="PATH", help="embedder checkpoint (.pt)")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="output format (default: onnx)")
    p.add_argument("--out", required=True, metavar="PATH", help="output file, e.g. model.onnx")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default: {DEFAULT_OPSET})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    embedder = Embedder.load(args.weights, channels_last=False)
    meta = export_onnx(embedder, args.out, args.opset)
    print(f"wrote {args.out} ({meta['facerec.backbone']}, {meta['facerec.embedding_size']}-d, "
          f"model {meta['facerec.fingerprint']})")
    return 0
