"""Distillation teachers: face-embedding models that give target embeddings for aligned crops.

:func:`build_teacher` is the one way a teacher is built, for every path that needs one: the
cached targets of ``[distill] teacher`` (:mod:`.distillation`), ``teacher = "init"`` (the frozen
original of ``model.init``), the class means of ``classifier_init = "class_means"`` and the
per-batch teacher of ``distill.online``. A teacher is named by a :class:`~.pretrained.PretrainedSource`
(:func:`teacher_source`): a named model, a facerec ``.pt``/``.onnx`` (their own preprocessing)
or an ONNX graph without facerec metadata read with an :class:`~facerec.runtime.preprocessing.InputSpec`.
Its embeddings are computed once per training crop and cached (:mod:`.teacher_cache`), keyed
by the crop's content and the teacher's ``cache_settings``: the source's ``sha256`` (file and
input spec) and what runs it (runtime, precision, preprocessing).
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import torch

from facerec.io.cache import embedder_settings
from facerec.runtime.embedder import Embedder
from facerec.errors import ModelError
from facerec.runtime.onnx_runtime import make_batchable, open_session
from facerec.runtime.precision import resolve_precision
from facerec.runtime.preprocessing import Preprocessing
from facerec.similarity import l2_normalize

from .config import DISTILL_RUNTIMES, DistillConfig, ModelConfig
from .pretrained import PretrainedSource, load_pretrained, resolve_init, resolve_source

log = logging.getLogger(__name__)


class Teacher(Protocol):
    sha256: str
    dim: int
    #: Everything besides a crop that changes the teacher's embeddings (the cache's key).
    cache_settings: dict[str, Any]

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB aligned crops → (N, D) float32 unit rows."""
        ...


class EmbedderTeacher:
    """A frozen torch :class:`Embedder` as teacher (any source; an ONNX graph runs as torch ops,
    batched, bf16 where native)."""

    def __init__(self, embedder: Embedder, sha256: str, batch_size: int = 64) -> None:
        self.embedder, self.sha256, self.batch_size = embedder, sha256, batch_size
        for p in embedder.model.parameters():
            p.requires_grad_(False)
        self.dim = embedder.embedding_size
        self.cache_settings = {"sha256": sha256, **embedder_settings(embedder)}

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.embedder.embed(crops, batch_size=self.batch_size)  # unit rows


class OrtTeacher:
    """A foreign ONNX graph on onnxruntime, fed by its input spec's :class:`Preprocessing`
    (the same conversion as the torch runner's)."""

    def __init__(self, src: PretrainedSource, preprocessing: Preprocessing, batch_size: int = 64) -> None:
        import onnx

        model = onnx.load(str(src.path))
        # Weights declared as graph inputs are dropped from the inputs (so they fold as
        # constants) and the batch dimension is made symbolic, in memory.
        make_batchable(model.graph)
        self._session = open_session(model.SerializeToString())
        self.preprocessing, self.sha256, self.batch_size = preprocessing, src.sha256, batch_size
        self.cache_settings = {"sha256": src.sha256, "runtime": "onnxruntime", "precision": "fp32",
                               "preprocessing": preprocessing.to_dict()}
        w, h = preprocessing.size
        self.dim = int(self._run(np.zeros((1, h, w, 3), np.uint8)).shape[1])

    def _run(self, crops: np.ndarray) -> np.ndarray:
        name = self._session.get_inputs()[0].name
        return self._session.run(None, {name: self.preprocessing.to_array(crops)})[0]

    def embed(self, crops: np.ndarray) -> np.ndarray:
        out = [self._run(crops[i:i + self.batch_size]) for i in range(0, len(crops), self.batch_size)]
        return l2_normalize(np.concatenate(out))


def teacher_source(d: DistillConfig, m: ModelConfig | None = None,
                   init: PretrainedSource | None = None) -> PretrainedSource:
    """What ``distill.teacher`` names: ``"init"`` (``model.init`` with its input spec; ``init``:
    already resolved) or a model read with ``[distill]``'s input spec."""
    if d.teacher == "init":
        if init is not None:
            return init
        if m is None or not m.init:
            raise ValueError("distill.teacher = \"init\" needs model.init to name a pretrained model "
                             "(a named model, an .onnx or a .pt embedder)")
        return resolve_init(m, d.template)
    return resolve_source(d.teacher, d.input_spec(), "distill.teacher")


def build_teacher(src: PretrainedSource, template: str, precision: str = "auto", batch_size: int = 64,
                  runtime: str = "torch", device: str = "cpu") -> Teacher:
    """The teacher of ``src`` for crops of ``template``: frozen, on torch (``precision``,
    ``device``), or on onnxruntime (``runtime``, foreign ONNX graphs only; fp32 on the CPU)."""
    if runtime not in DISTILL_RUNTIMES:
        raise ValueError(f"distill.runtime must be one of {DISTILL_RUNTIMES}")
    try:
        if runtime == "onnxruntime" and src.spec is not None:
            if src.spec.template != template:
                raise ValueError(f"{src.name} is read as {src.spec.template} crops, data.template is {template}")
            teacher: Teacher = OrtTeacher(src, src.spec.preprocessing(), batch_size)
        else:
            emb = load_pretrained(src, template, resolve_precision(precision, device).precision, device)
            teacher = EmbedderTeacher(emb, src.sha256, batch_size)
    except ImportError as exc:
        raise ModelError(f"an ONNX teacher needs the onnx package ({exc}); pip install 'facerec[export]'") from None
    log.info("teacher %s (sha256 %s…), %d-d, %s", src.name, src.sha256[:12], teacher.dim,
             "onnxruntime" if isinstance(teacher, OrtTeacher) else f"torch {precision}")
    return teacher


def load_teacher(d: DistillConfig, m: ModelConfig | None = None, init: PretrainedSource | None = None) -> Teacher:
    """The teacher of the cached targets: :func:`build_teacher` of :func:`teacher_source` with
    ``[distill]``'s precision, batch size and runtime."""
    return build_teacher(teacher_source(d, m, init), d.template, d.precision, d.batch_size, d.runtime)


def online_teacher(d: DistillConfig, m: ModelConfig, init: PretrainedSource | None, preprocessing: Preprocessing,
                   device: str) -> "torch.nn.Module":
    """The frozen module of ``distill.online``: it maps the student's preprocessed (N, 3, H, W)
    batch to (N, Dt) features, so the teacher must take the student's ``preprocessing``
    (``"init"`` always does)."""
    teacher = build_teacher(teacher_source(d, m, init), d.template, "fp32", d.batch_size, "torch", device)
    assert isinstance(teacher, EmbedderTeacher)
    if teacher.embedder.preprocessing != preprocessing:
        raise ValueError(f"distill.online: teacher {d.teacher} expects {teacher.embedder.preprocessing}, "
                         f"the student's batches are {preprocessing}; use distill.online = false")
    return teacher.embedder.model.eval()
