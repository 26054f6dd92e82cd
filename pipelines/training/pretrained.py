"""Starting training from a pretrained embedding model (``[model] init``).

``init`` names a registered model (``facerec models``), an ONNX embedding model or a facerec
``.pt``. The model brings its architecture, preprocessing and embedding size: an ONNX graph
becomes the trainable backbone ``onnx_graph`` (:mod:`facerec.onnx_torch`), which a fine-tuned
run saves as an ordinary ``.pt``. A run's training state (``last.pt``) is not a pretrained model:
the trainer restores those itself.

The same file, loaded once more and frozen, is the teacher of ``[distill] teacher = "init"``
(:func:`init_teacher`) and gives the class means of ``classifier_init = "class_means"``.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facerec.cache import embedder_settings
from facerec.checksum import file_sha256
from facerec.embedder import Embedder
from facerec.errors import ModelError
from facerec.precision import resolve_precision
from facerec.preprocessing import Preprocessing

from .config import ModelConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedSource:
    """What ``model.init`` resolves to: the file and, for a foreign ONNX graph, its input spec."""

    name: str          # as written in the config
    path: Path
    foreign_onnx: bool  # an ONNX file without facerec metadata (input spec from the config)
    sha256: str        # identifies the model (file and input spec): teacher-cache key


def resolve_init(m: ModelConfig, template: str) -> PretrainedSource:
    """The pretrained model ``m.init`` names; FileNotFoundError / ModelError when it cannot be used."""
    from facerec.models import MODELS, model_file
    from facerec.onnx_runtime import file_metadata

    path = model_file(m.init)
    if not path.is_file():
        raise FileNotFoundError(f"model.init: {path}: no such file (or a named model: {', '.join(MODELS)})")
    foreign = path.suffix.lower() == ".onnx" and "facerec.preprocessing" not in file_metadata(path)
    digest = file_sha256(path)
    if foreign:  # the same graph read with another input spec is another model
        spec = json.dumps([template, m.init_scale, list(m.init_mean), list(m.init_std)])
        digest = hashlib.sha256((digest + spec).encode()).hexdigest()
    return PretrainedSource(m.init, path, foreign, digest)


def load_pretrained(src: PretrainedSource, m: ModelConfig, template: str, precision: str = "fp32",
                    device: str = "cpu") -> Embedder:
    """The pretrained model as an :class:`Embedder` whose ``model`` can be trained; ValueError
    if it expects other crops than ``template``."""
    if src.foreign_onnx:
        from facerec.models.install import preprocessing_from
        from facerec.models.registry import InputSpec

        pre = preprocessing_from(InputSpec("rgb", m.init_scale, m.init_mean, m.init_std), template, str(src.path))
        emb = Embedder.from_graph(src.path, pre, {"source_model": src.path.name}, precision=precision, device=device)
    else:
        emb = Embedder.load(src.path, precision=precision, device=device)
    if emb.preprocessing.template != template:
        raise ValueError(f"model.init {src.name} takes {emb.preprocessing.template} crops, "
                         f"data.template is {template}")
    return emb


class PretrainedTeacher:
    """``[distill] teacher = "init"``: the original pretrained model, frozen, as the teacher
    (the :class:`~.teacher.Teacher` protocol)."""

    def __init__(self, src: PretrainedSource, m: ModelConfig, template: str, precision: str = "auto",
                 batch_size: int = 64) -> None:
        self.embedder = load_pretrained(src, m, template, resolve_precision(precision).precision)
        for p in self.embedder.model.parameters():
            p.requires_grad_(False)
        self.sha256, self.dim, self.batch_size = src.sha256, self.embedder.embedding_size, batch_size
        self.cache_settings = {"sha256": src.sha256, **embedder_settings(self.embedder)}

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.embedder.embed(crops, batch_size=self.batch_size)  # unit rows


def class_means(emb: np.ndarray, labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """(num_classes, D) unit mean of each class's unit embeddings; ``labels`` < 0 are ignored.
    A class without samples gets a zero row (its centre then stays as initialised)."""
    keep = labels >= 0
    sums = np.zeros((num_classes, emb.shape[1]), np.float64)
    np.add.at(sums, labels[keep], emb[keep])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return torch.from_numpy((sums / np.maximum(norms, 1e-12)).astype(np.float32))


def imprint_centres(head: torch.nn.Module, means: torch.Tensor) -> None:
    """Set a margin head's class centres (``head.weight``, (C·K, D) for K sub-centres) to the
    class means; classes with a zero mean keep their random centres."""
    w = getattr(head, "weight", None)
    if not isinstance(w, torch.Tensor) or w.ndim != 2 or w.shape[0] % means.shape[0] or w.shape[1] != means.shape[1]:
        raise ModelError(f"classifier_init = class_means: the loss head's centres {tuple(getattr(w, 'shape', ()))} "
                         f"do not fit {tuple(means.shape)} class means")
    k = w.shape[0] // means.shape[0]
    rows = means.repeat_interleave(k, dim=0).to(w.dtype)
    have = rows.norm(dim=1) > 0
    with torch.no_grad():
        w[have] = rows[have]
    log.info("classifier: %d of %d class centres set to the pretrained class means", int(have.sum()) // k,
             means.shape[0])


def online_teacher(teacher: str, src: PretrainedSource | None, m: ModelConfig, template: str,
                   preprocessing: Preprocessing, device: torch.device) -> torch.nn.Module:
    """The frozen teacher module of ``distill.online``: ``"init"`` (the original of ``src``) or
    a facerec model (named, ``.pt`` or facerec ``.onnx``) that takes the student's preprocessed
    batch; it maps that (N, 3, H, W) batch to (N, Dt) features."""
    if teacher == "init":
        if src is None:
            raise ValueError("distill.teacher = \"init\" needs model.init to name a pretrained model")
        emb = load_pretrained(src, m, template)
    else:
        from facerec.models import model_file

        emb = Embedder.load(model_file(teacher))
        if emb.preprocessing != preprocessing:
            raise ValueError(f"distill.online: teacher {teacher} expects {emb.preprocessing}, the student's batches "
                             f"are {preprocessing}; use distill.online = false")
    module = emb.model.to(device).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
