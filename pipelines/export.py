"""The workflow behind ``facerec export`` (its command line: :mod:`pipelines.cli.export`):
Models as ONNX, for the light (torch-free) inference path.

``facerec export --weights W --format onnx --out model.onnx`` writes one embedder. The graph
maps a preprocessed batch ``input`` (N, 3, H, W) float32 — aligned crops after
:class:`facerec.runtime.preprocessing.Preprocessing`, whose spec is stored in the model's metadata
(``facerec.runtime.preprocessing``) — to ``embedding`` (N, D) float32, L2-normalised, like
:meth:`facerec.runtime.embedder.Embedder.embed_tensor` (without flip augmentation), and to
``features`` (N, D), the backbone's raw output (flip augmentation sums those). The batch axis
is dynamic. The checkpoint's whole metadata (fingerprint, threshold, search_threshold...) is
stored as JSON under ``facerec.metadata``, so the ONNX model has the same model id.

``facerec export --default`` regenerates every ONNX file shipped in the package: the export of
each named model facerec trained itself (``facerec-mbf-v2``: ``weights/default.pt`` →
``weights/default.onnx``, paths from :mod:`facerec.models`) and MTCNN's three networks
(``mtcnn_{pnet,rnet,onet}.onnx``, from the weights inside the installed facenet-pytorch).
Run it whenever a packaged ``.pt`` changes; a test fails while the two disagree.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facerec.io.atomic import atomic_path
from facerec.runtime.embedder import Embedder
from facerec.runtime.onnx_runtime import FORMAT_KEY, METADATA_FORMAT, METADATA_KEY

log = logging.getLogger(__name__)

FORMATS = ("onnx",)
DEFAULT_OPSET = 17


class NormalizedEmbedding(nn.Module):
    """backbone → L2 normalisation: the embedder's output as one module."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # (N, 3, H, W) → 2 × (N, D)
        feats = self.backbone(x)
        return F.normalize(feats, dim=1), feats


def _onnx_export(model: nn.Module, dummy: torch.Tensor, out: Path, outputs: list[str],
                 dynamic: dict[str, dict[int, str]], opset: int) -> None:
    """TorchScript-based exporter (needs no onnxscript; gives plain dynamic axes)."""
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), str(out), input_names=["input"], output_names=outputs,
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False, do_constant_folding=True)


def _set_metadata(path: Path, meta: dict[str, str]) -> None:
    """Replace the model's metadata_props by ``meta`` and check the model."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def export_onnx(embedder: Embedder, out: str | os.PathLike, opset: int = DEFAULT_OPSET) -> dict[str, Any]:
    """Write ``embedder`` as an ONNX model (atomically); returns the metadata stored in it."""
    w, h = embedder.preprocessing.size
    model = NormalizedEmbedding(embedder.model).eval().to("cpu", memory_format=torch.contiguous_format)
    fingerprint = embedder.fingerprint()
    meta = {FORMAT_KEY: str(METADATA_FORMAT), "facerec.backbone": embedder.backbone_name, "facerec.fingerprint": fingerprint,
            "facerec.preprocessing": json.dumps(embedder.preprocessing.to_dict()),
            "facerec.embedding_size": str(embedder.embedding_size),
            METADATA_KEY: json.dumps({**embedder.metadata, "fingerprint": fingerprint}, sort_keys=True)}
    if "threshold" in embedder.metadata:
        meta["facerec.threshold"] = str(float(embedder.metadata["threshold"]))
    with atomic_path(out) as tmp:
        _onnx_export(model, torch.zeros(2, 3, h, w), tmp, ["embedding", "features"],
                     {"input": {0: "batch"}, "embedding": {0: "batch"}, "features": {0: "batch"}}, opset)
        _set_metadata(tmp, meta)
    return meta


def export_mtcnn(folder: str | os.PathLike, opset: int = DEFAULT_OPSET) -> list[Path]:
    """Write MTCNN's P-Net (dynamic height and width), R-Net and O-Net (dynamic batch) as
    ``mtcnn_{pnet,rnet,onet}.onnx`` in ``folder``, from facenet-pytorch's bundled weights."""
    from facerec.detection.detector import FACENET_INSTALL
    from facerec.errors import ModelError
    from facerec.detection.mtcnn_onnx import mtcnn_onnx_path

    try:
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet
    except ImportError:
        raise ModelError(f"exporting MTCNN needs facenet-pytorch: {FACENET_INSTALL}") from None

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specs = [("pnet", PNet(), torch.zeros(1, 3, 24, 24), ["reg", "prob"], {2: "height", 3: "width"}),
             ("rnet", RNet(), torch.zeros(2, 3, 24, 24), ["reg", "prob"], {0: "batch"}),
             ("onet", ONet(), torch.zeros(2, 3, 48, 48), ["reg", "landmarks", "prob"], {0: "batch"})]
    written = []
    for name, net, dummy, outputs, axes in specs:
        out = mtcnn_onnx_path(name, folder)
        out_axes = {o: ({0: "batch"} if name != "pnet" else {2: "height", 3: "width"}) for o in outputs}
        with atomic_path(out) as tmp:
            _onnx_export(net.eval(), dummy, tmp, outputs, {"input": axes, **out_axes}, opset)
            _set_metadata(tmp, {FORMAT_KEY: str(METADATA_FORMAT), "facerec.network": f"mtcnn.{name}",
                                "facerec.source": "facenet-pytorch"})
        written.append(out)
    return written


def export_default(folder: str | os.PathLike | None = None, opset: int = DEFAULT_OPSET) -> list[Path]:
    """Regenerate the ONNX files shipped in the package: each packaged named model's export of
    its ``.pt`` (:mod:`facerec.models`) and MTCNN's networks; returns the paths. ``folder``
    (default: where the registry keeps them) redirects the output, e.g. to compare."""
    from facerec.models import MODELS

    written = []
    for spec in MODELS.values():
        if "torch" not in spec.packaged or not spec.torch_path().suffix == ".pt":
            continue
        out = spec.onnx_path() if folder is None else Path(folder) / spec.onnx_path().name
        export_onnx(Embedder.load(spec.torch_path(), channels_last=False), out, opset)
        written.append(out)
    return [*written, *export_mtcnn(folder if folder is not None else _mtcnn_folder(), opset)]


def _mtcnn_folder() -> Path:
    from facerec.detection.mtcnn_onnx import mtcnn_onnx_path

    return mtcnn_onnx_path("pnet").parent
