"""Starting training from a pretrained embedding model (``[model] init``).

``init`` names a registered model (``facerec models``), an ONNX embedding model or a facerec
``.pt``. The model brings its architecture, preprocessing and embedding size: an ONNX graph
becomes the trainable backbone ``onnx_graph`` (:mod:`facerec.backbones.onnx_torch`), which a fine-tuned
run saves as an ordinary ``.pt``. A run's training state (``last.pt``) is not a pretrained model:
the trainer restores those itself.

The same file, loaded once more and frozen, is the teacher of ``[distill] teacher = "init"``
and gives the class means of ``classifier_init = "class_means"``: :func:`.teacher.build_teacher`
builds every teacher from a :class:`PretrainedSource` with :func:`load_pretrained`.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facerec.io.checksum import file_sha256
from facerec.runtime.embedder import Embedder
from facerec.errors import ModelError
from facerec.runtime.preprocessing import InputSpec

from .config import ModelConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedSource:
    """What a model argument (``model.init``, ``distill.teacher``) resolves to: the file and,
    for a foreign ONNX graph (no facerec metadata), the input spec it is read with."""

    name: str          # as written in the config
    path: Path
    spec: InputSpec | None  # a foreign ONNX graph's input spec (from the config); None: the file's own
    sha256: str        # identifies the model (file and input spec): teacher-cache key

    @property
    def foreign_onnx(self) -> bool:
        return self.spec is not None


def resolve_source(name: str, spec: InputSpec, key: str = "model.init") -> PretrainedSource:
    """The model ``name`` denotes (a named model, an ``.onnx`` or a facerec ``.pt``); ``spec``
    applies only to an ONNX file without facerec metadata. FileNotFoundError naming ``key``."""
    from facerec.models import MODELS, model_file
    from facerec.runtime.onnx_runtime import file_metadata

    path = model_file(name)
    if not path.is_file():
        raise FileNotFoundError(f"{key}: {path}: no such file (or a named model: {', '.join(MODELS)})")
    foreign = path.suffix.lower() == ".onnx" and "facerec.preprocessing" not in file_metadata(path)
    digest = file_sha256(path)
    if foreign:  # the same graph read with another input spec is another model
        text = json.dumps([spec.template, spec.color, spec.scale, list(spec.mean), list(spec.std)])
        if spec.color == "rgb":  # the key written before colour was part of it, so caches stay valid
            text = json.dumps([spec.template, spec.scale, list(spec.mean), list(spec.std)])
        digest = hashlib.sha256((digest + text).encode()).hexdigest()
    return PretrainedSource(name, path, spec if foreign else None, digest)


def resolve_init(m: ModelConfig, template: str) -> PretrainedSource:
    """The pretrained model ``m.init`` names; FileNotFoundError / ModelError when it cannot be used."""
    return resolve_source(m.init, m.init_spec(template), "model.init")


def load_pretrained(src: PretrainedSource, template: str, precision: str = "fp32",
                    device: str = "cpu") -> Embedder:
    """The model of ``src`` as an :class:`Embedder` whose ``model`` can be trained; ValueError
    if it expects other crops than ``template``."""
    if src.spec is not None:
        emb = Embedder.from_graph(src.path, src.spec.preprocessing(), {"source_model": src.path.name},
                                  precision=precision, device=device)
    else:
        emb = Embedder.load(src.path, precision=precision, device=device)
    if emb.preprocessing.template != template:
        raise ValueError(f"{src.name} takes {emb.preprocessing.template} crops, data.template is {template}")
    if not emb.embedding_size:  # a graph whose output width is symbolic: measured once
        w, h = emb.preprocessing.size
        emb.model.embedding_size = int(emb.embed(np.zeros((1, h, w, 3), np.uint8)).shape[1])
        emb.backbone_kwargs["embedding_size"] = emb.model.embedding_size
    return emb


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
