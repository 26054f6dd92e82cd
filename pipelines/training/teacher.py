"""Distillation teachers: face-embedding models that give target embeddings for aligned crops.

A teacher is either an ONNX face-embedding model with its input spec (crop template, colour
order, ``(pixel·scale − mean) / std``) or a facerec embedder checkpoint (``.pt``, which carries
its own preprocessing). Its embeddings are computed once per training crop and cached
(:mod:`.teacher_cache`), keyed by the crop's content and the teacher's ``cache_settings``
(file sha256, input spec, runtime, precision).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from facerec.alignment import get_template
from facerec.cache import embedder_settings
from facerec.checksum import file_sha256
from facerec.errors import ModelError
from facerec.onnx_runtime import make_batchable, open_session
from facerec.precision import resolve_precision
from facerec.similarity import l2_normalize

from .config import DISTILL_RUNTIMES, DistillConfig

log = logging.getLogger(__name__)

class Teacher(Protocol):
    sha256: str
    dim: int
    #: Everything besides a crop that changes the teacher's embeddings (the cache's key).
    cache_settings: dict[str, Any]

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB aligned crops → (N, D) float32 unit rows."""
        ...


class OnnxTeacher:
    """An ONNX embedding model run batched, by onnxruntime or as torch ops (:mod:`facerec.onnx_torch`)."""

    def __init__(self, cfg: DistillConfig, runtime: str = "torch", batch_size: int = 64) -> None:
        from facerec.onnx_torch import numpy_input

        if runtime not in DISTILL_RUNTIMES:
            raise ValueError(f"distill.runtime must be one of {DISTILL_RUNTIMES}")
        self.cfg, self.runtime, self.batch_size = cfg, runtime, batch_size
        self.sha256 = file_sha256(cfg.teacher)
        self._input = numpy_input
        choice = resolve_precision(cfg.precision)
        self.bf16 = runtime == "torch" and choice.precision == "bf16"
        if runtime == "torch":
            from facerec.onnx_torch import OnnxGraphModule

            self._module = OnnxGraphModule(cfg.teacher).eval()
        else:
            self._session = _ort_session(cfg.teacher)
        w, h = get_template(cfg.template).size
        self.cache_settings = {"sha256": self.sha256, "template": cfg.template, "color": cfg.color,
                               "scale": cfg.scale, "mean": list(cfg.mean), "std": list(cfg.std),
                               "runtime": runtime, "precision": "bf16" if self.bf16 else "fp32"}
        self.dim = int(self.embed(np.zeros((1, h, w, 3), np.uint8)).shape[1])
        log.info("teacher %s (sha256 %s…), %d-d, runtime %s%s", Path(cfg.teacher).name, self.sha256[:12], self.dim,
                 runtime, ", bf16" if self.bf16 else "")

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.runtime == "onnxruntime":
            name = self._session.get_inputs()[0].name
            return self._session.run(None, {name: x})[0]
        t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(self.bf16)):
            return self._module(t).float().numpy()

    def embed(self, crops: np.ndarray) -> np.ndarray:
        c = self.cfg
        out = [self._run(self._input(crops[i:i + self.batch_size], c.color, c.scale, c.mean, c.std))
               for i in range(0, len(crops), self.batch_size)]
        return l2_normalize(np.concatenate(out))


def _ort_session(path: str):  # -> onnxruntime.InferenceSession
    """A batched onnxruntime session (facerec's session options): weights declared as graph
    inputs are dropped from the inputs (so they fold as constants) and the batch dimension is
    made symbolic, in memory."""
    import onnx

    model = onnx.load(path)
    make_batchable(model.graph)
    return open_session(model.SerializeToString())


class CheckpointTeacher:
    """A facerec model as teacher: a ``.pt`` checkpoint or a named model's file (its
    preprocessing comes from the model itself)."""

    def __init__(self, cfg: DistillConfig, path: str | Path, batch_size: int = 64) -> None:
        from facerec.embedder import Embedder

        self.sha256 = file_sha256(path)
        self.embedder = Embedder.load(path, precision=resolve_precision(cfg.precision).precision)
        if self.embedder.preprocessing.template != cfg.template:
            raise ValueError(f"teacher {cfg.teacher} expects {self.embedder.preprocessing.template} crops, "
                             f"distill.template is {cfg.template}")
        self.dim, self.batch_size = self.embedder.embedding_size, batch_size
        self.cache_settings = {"sha256": self.sha256, **embedder_settings(self.embedder)}

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.embedder.embed(crops, batch_size=self.batch_size)  # already unit rows


def load_teacher(cfg: DistillConfig) -> Teacher:
    """The teacher named by ``distill.teacher``: a named model (``facerec models``), an ONNX
    embedding model with the input spec in ``cfg``, or a facerec ``.pt``."""
    from facerec.models import MODELS, model_file

    path = model_file(cfg.teacher)
    if cfg.teacher in MODELS:  # its own input spec, whatever the file's format
        return CheckpointTeacher(cfg, path, cfg.batch_size)
    if not path.is_file():
        raise FileNotFoundError(f"distill.teacher: {path}: no such file")
    if path.suffix.lower() == ".onnx":
        try:
            return OnnxTeacher(cfg, cfg.runtime, cfg.batch_size)
        except ImportError as exc:
            raise ModelError(f"an ONNX teacher needs the onnx package ({exc}); pip install 'facerec[export]'") from None
    return CheckpointTeacher(cfg, path, cfg.batch_size)
