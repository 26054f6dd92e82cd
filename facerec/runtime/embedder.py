"""Aligned crops → L2-normalised embeddings, and the self-describing checkpoint format.

A checkpoint is a plain dict (loadable with ``torch.load(weights_only=True)``, so a malicious
pickle cannot run code)::

    {"format": "facerec.embedder", "version": 1, "backbone": "iresnet50",
     "backbone_kwargs": {...}, "preprocessing": {...}, "state_dict": {...}, "metadata": {...}}

``Embedder.load(path)`` needs nothing else.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facerec.io.atomic import atomic_write
from facerec.backbones import create_backbone
from facerec.errors import ModelError
from facerec.runtime.precision import resolve_precision
from facerec.runtime.preprocessing import Preprocessing

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "facerec.embedder"
CHECKPOINT_VERSION = 1
PRECISIONS = ("fp32", "bf16")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` under :func:`facerec.io.atomic.atomic_write`'s rule: a crash leaves either
    the old file or the new one, never a truncated one."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def weights_fingerprint(backbone_name: str, state_dict: dict[str, torch.Tensor]) -> str:
    """16 hex digits of sha256 over the backbone name and every tensor, in key order."""
    h = hashlib.sha256(backbone_name.encode())
    for k, v in sorted(state_dict.items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Embedder:
    """A backbone plus its preprocessing: aligned uint8 crops → (N, D) unit vectors.

    ``precision="bf16"`` runs the backbone under CPU/CUDA bf16 autocast, ``"auto"`` does so
    only where bf16 is native (:mod:`facerec.runtime.precision`); ``channels_last`` uses NHWC memory
    layout (about 2× faster on CPU for these CNNs).
    """

    runtime = "torch"  # what runs the network (part of a cache key: :func:`facerec.io.cache.embedder_settings`)

    def __init__(self, backbone: nn.Module, backbone_name: str, preprocessing: Preprocessing | None = None,
                 backbone_kwargs: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", precision: str = "fp32", channels_last: bool = True) -> None:
        if precision == "auto":
            choice = resolve_precision(precision, str(device))
            log.info("embedder precision %s (%s)", choice.precision, choice.reason)
            precision = choice.precision
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} or 'auto', got {precision!r}")
        self.preprocessing = preprocessing or Preprocessing()
        w, h = self.preprocessing.size
        if tuple(getattr(backbone, "input_size", (h, w))) != (h, w):
            raise ValueError(f"backbone input size {backbone.input_size} does not match the "
                             f"{self.preprocessing.template} crop ({h}, {w})")
        self.backbone_name = backbone_name
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.metadata = dict(metadata or {})
        self.device = torch.device(device)
        self.precision = precision
        self.channels_last = channels_last
        self.model = backbone.to(self.device).eval()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    @classmethod
    def create(cls, backbone: str, preprocessing: Preprocessing | None = None, **kwargs: Any) -> "Embedder":
        """A fresh (randomly initialised) embedder; ``kwargs`` go to the backbone factory
        except ``device``, ``precision``, ``channels_last`` and ``metadata``."""
        opts = {k: kwargs.pop(k) for k in ("device", "precision", "channels_last", "metadata") if k in kwargs}
        pre = preprocessing or Preprocessing()
        kwargs.setdefault("input_size", pre.size[::-1])
        return cls(create_backbone(backbone, **kwargs), backbone, pre, kwargs, **opts)

    @property
    def embedding_size(self) -> int:
        return int(getattr(self.model, "embedding_size"))

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def features_tensor(self, x: torch.Tensor, flip: bool = False) -> torch.Tensor:
        """(N, 3, H, W) preprocessed batch → (N, D) float32 raw features (not normalised).

        ``flip``: test-time augmentation, sum of the features of the crop and its mirror.
        """
        x = x.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            feats = self.model(x).float()
            if flip:
                feats = feats + self.model(torch.flip(x, dims=[3])).float()
        return feats

    def embed_tensor(self, x: torch.Tensor, flip: bool = False) -> torch.Tensor:
        """(N, 3, H, W) preprocessed batch → (N, D) float32 unit vectors (see :meth:`features_tensor`)."""
        return F.normalize(self.features_tensor(x, flip), dim=1)

    def embed(self, crops: np.ndarray | Sequence[np.ndarray], batch_size: int = 64, flip: bool = False) -> np.ndarray:
        """Aligned crops (N, H, W, 3) uint8 RGB → (N, D) float32 L2-normalised embeddings."""
        return self.embed_with_norms(crops, batch_size, flip)[0]

    @torch.inference_mode()
    def embed_with_norms(self, crops: np.ndarray | Sequence[np.ndarray], batch_size: int = 64,
                         flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`embed` and the (N,) norms of the raw features (with ``flip``, of the mean of
        the two views' features), as :meth:`facerec.runtime.onnx_embedder.OnnxEmbedder.embed_with_norms`."""
        crops = list(crops) if not isinstance(crops, np.ndarray) else crops
        if len(crops) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32), np.zeros(0, np.float32)
        out, norms = [], []
        for i in range(0, len(crops), batch_size):
            batch = self.preprocessing.to_tensor(crops[i:i + batch_size])
            feats = self.features_tensor(batch, flip=flip)
            norms.append((feats.norm(dim=1) / (2.0 if flip else 1.0)).cpu().numpy())
            out.append(F.normalize(feats, dim=1).cpu().numpy())
        return np.concatenate(out).astype(np.float32, copy=False), np.concatenate(norms).astype(np.float32)

    # -- checkpoint -----------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Identifies the model that produced embeddings (16 hex digits of a sha256 over the
        weights), so a gallery can refuse vectors from another model."""
        return str(self.metadata.get("fingerprint") or weights_fingerprint(self.backbone_name, self.model.state_dict()))

    def state(self) -> dict[str, Any]:
        """The checkpoint dict (see module docstring)."""
        sd = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        # Recomputed on every save: the weights may have changed since this was loaded.
        meta = {**self.metadata, "fingerprint": weights_fingerprint(self.backbone_name, sd)}
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "backbone": self.backbone_name,
                "backbone_kwargs": self.backbone_kwargs, "preprocessing": self.preprocessing.to_dict(),
                "state_dict": sd, "metadata": meta}

    def save(self, path: str | os.PathLike) -> None:
        """Write the self-describing checkpoint atomically."""
        atomic_torch_save(self.state(), path)

    @classmethod
    def from_state(cls, ckpt: Any, **opts: Any) -> "Embedder":
        """Rebuild from a checkpoint dict (as written by :meth:`save`)."""
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ModelError("not a facerec embedder checkpoint")
        if int(ckpt.get("version", -1)) > CHECKPOINT_VERSION:
            raise ModelError(f"checkpoint version {ckpt.get('version')} is newer than this facerec supports")
        try:
            pre = Preprocessing.from_dict(ckpt["preprocessing"])
            kwargs = dict(ckpt["backbone_kwargs"])
            if "input_size" in kwargs:
                kwargs["input_size"] = tuple(kwargs["input_size"])
            model = create_backbone(ckpt["backbone"], **kwargs)
            model.load_state_dict(ckpt["state_dict"], strict=True)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelError(f"incompatible checkpoint: {exc}") from None
        meta = ckpt.get("metadata", {})
        if not isinstance(meta, dict):
            raise ModelError("incompatible checkpoint: metadata is not a dict")
        # save() records the weights' fingerprint: a mismatch means flipped bytes in the tensors
        # (torch.load does not check the zip CRCs), which would otherwise give wrong embeddings
        # under the original model id (galleries, embedding caches). ~0.3 s for IResNet-100.
        if meta.get("fingerprint") is not None and weights_fingerprint(ckpt["backbone"], ckpt["state_dict"]) != meta["fingerprint"]:
            raise ModelError("corrupt checkpoint: the weights do not match the fingerprint recorded when it was saved")
        return cls(model, ckpt["backbone"], pre, kwargs, metadata=meta, **opts)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, **opts: Any) -> "Embedder":
        """A facerec ONNX model (e.g. a converted named model) on torch: its graph as torch ops
        (:class:`facerec.backbones.onnx_torch.OnnxGraphModule`), with the file's preprocessing and metadata,
        so the fingerprint and thresholds are those of the ONNX runtime. ``opts`` as :meth:`load`."""
        from facerec.runtime.onnx_runtime import describe_model, file_metadata

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        pre, dim, name, meta = describe_model(file_metadata(path), str(path))
        return cls.from_graph(path, pre, {**meta, "source_model": name}, embedding_size=dim, **opts)

    @classmethod
    def from_graph(cls, path: str | os.PathLike, preprocessing: Preprocessing, metadata: dict[str, Any] | None = None,
                   embedding_size: int | None = None, **opts: Any) -> "Embedder":
        """Any ONNX embedding graph as backbone ``onnx_graph`` (trainable, savable as ``.pt``),
        with the ``preprocessing`` its input expects. ``opts`` as :meth:`load`."""
        from facerec.backbones.onnx_torch import OnnxGraphModule

        try:
            module = OnnxGraphModule(path)
        except NotImplementedError as exc:
            raise ModelError(f"{path}: cannot run on torch ({exc}); use the onnx runtime") from None
        if embedding_size:
            module.embedding_size = int(embedding_size)
        kwargs = {"graph": module.spec, "input_size": module.input_size, "embedding_size": module.embedding_size}
        return cls(module, "onnx_graph", preprocessing, kwargs, metadata=metadata, **opts)

    @classmethod
    def load(cls, path: str | os.PathLike, **opts: Any) -> "Embedder":
        """Load a checkpoint written by :meth:`save` (or a facerec ``.onnx`` model, through
        :meth:`from_onnx`); ``opts``: device, precision, channels_last.

        Uses ``torch.load(weights_only=True)``: pickles that would execute code are refused.
        """
        path = Path(path)
        if path.suffix.lower() == ".onnx":
            return cls.from_onnx(path, **opts)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt zip, truncated file, refused pickle global...
            first = (str(exc).splitlines() or [""])[0][:200]  # some errors (empty file) have no message
            raise ModelError(f"{path}: cannot load model ({type(exc).__name__}: {first})") from None
        try:
            return cls.from_state(ckpt, **opts)
        except ModelError as exc:  # name the file in the one-line error
            raise ModelError(f"{path}: {exc}") from None
