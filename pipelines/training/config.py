"""Training configuration: frozen dataclasses, read from TOML presets, overridden by ``--set``.

Unknown sections or keys are rejected (a typo must not silently train with a default). The
resolved configuration is written beside every checkpoint (``config.toml`` and
``config.json``) and stored inside it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import string
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import tomli_w

from facerec.io.atomic import atomic_write_text
from facerec.runtime.precision import CHOICES as PRECISION_CHOICES
from facerec.runtime.precision import resolve_precision
from facerec.runtime.preprocessing import InputSpec

from ..paths import data_dir

#: The one set of defaults of an ONNX input spec (``[model] init_*``, ``[distill]``).
_INPUT = InputSpec()

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DISTILL_RUNTIMES = ("torch", "onnxruntime")  # how an ONNX teacher runs


@dataclass(frozen=True)
class DataConfig:
    """Folder-per-identity dataset of face images (``root/<identity>/<image>``).

    align: ``"none"`` — the images are aligned crops of the template's size (made by
    ``facerec prepare``); ``"center"`` — pre-cropped, roughly centred faces (e.g. ORL's
    92×112) aligned with :func:`facerec.alignment.center_crop_landmarks` at
    ``center_face_fraction`` (the template's width spans that fraction of the shorter side).
    val_identities: identities held out for validation (identity-disjoint split by ``seed``).
    """

    root: str = ""
    format: str = "folder"  # folder: root/<identity>/<image>; recordio: root/train.rec + train.idx (insightface)
    template: str = "arcface_112"
    align: str = "none"
    center_face_fraction: float = 1.0
    val_identities: int = 0
    min_images_per_identity: int = 2
    max_identities: int = 0  # 0: all; otherwise the first N (sorted) — for quick experiments
    unlabeled: list[str] = field(default_factory=list)  # folders of aligned crops without identities (distillation only)
    preload: bool = True  # decode every crop once into memory (small datasets)
    num_workers: int = 0  # DataLoader processes (useful without preload)


@dataclass(frozen=True)
class AugmentConfig:
    """Per-sample augmentation probabilities. ``downscale``: shrink by a factor in
    [downscale_min, 1) and enlarge back (low-resolution robustness); ``grayscale``: LFW is grey;
    ``pose``: re-render the crop at a yaw uniform in ±``pose_yaw`` degrees on the generic 3D
    face (:mod:`facerec.pose`; one-to-many pose augmentation)."""

    flip: float = 0.5
    grayscale: float = 0.2
    downscale: float = 0.2
    downscale_min: float = 0.3
    pose: float = 0.0
    pose_yaw: float = 30.0


FREEZE_MODES = ("none", "backbone", "all_but_last")
CLASSIFIER_INITS = ("random", "class_means")


@dataclass(frozen=True)
class ModelConfig:
    """The backbone, or the pretrained model training starts from.

    init: "" (random ``backbone``); a named model (``facerec models``, e.g. ``"sface"``); an
    ``.onnx`` embedding model — a facerec export, or any other whose input is
    ``(pixel·init_scale − init_mean) / init_std`` on crops of ``data.template`` with channels in
    ``init_color`` order (:meth:`init_spec`, a :class:`facerec.runtime.preprocessing.InputSpec`); a facerec
    ``.pt``; or a run's training state (``last.pt``, whose loss head and distillation projection
    are also taken when they fit). A pretrained model brings its own architecture,
    preprocessing and embedding size (``backbone`` and ``embedding_size`` are then ignored).
    freeze: none | backbone (only the classifier trains) | all_but_last (the last
    ``trainable_blocks`` blocks train; a block is a conv or linear layer with the
    normalisation and activation after it, counted from the embedding end). Frozen
    BatchNorms keep their running statistics; ``freeze_batchnorm`` freezes every BatchNorm
    (statistics, scale, shift) — small batches of a new domain otherwise replace statistics
    learned on millions of faces.
    classifier_warmup_steps: steps during which only the new classifier (and distillation
    projection) trains, before the backbone moves. classifier_init: class_means sets each
    class centre to the mean pretrained embedding of its photos (needs ``init``).
    """

    backbone: str = "mobilefacenet"
    embedding_size: int = 512
    dropout: float = 0.0  # only passed to backbones that take it (iresnet*)
    init: str = ""
    init_color: str = _INPUT.color
    init_scale: float = _INPUT.scale
    init_mean: tuple[float, float, float] = _INPUT.mean
    init_std: tuple[float, float, float] = _INPUT.std
    freeze: str = "none"
    trainable_blocks: int = 0
    freeze_batchnorm: bool = False
    classifier_warmup_steps: int = 0
    classifier_init: str = "random"

    def init_spec(self, template: str) -> InputSpec:
        """The input spec of a foreign ONNX ``init`` (crops of ``template``, i.e. ``data.template``)."""
        return InputSpec(template, self.init_color, self.init_scale, self.init_mean, self.init_std)


@dataclass(frozen=True)
class LossConfig:
    """``name`` from :data:`losses.LOSSES`; ``params`` its hyperparameters (papers' defaults otherwise)."""

    name: str = "arcface"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartialFCConfig:
    """Partial FC (An et al. 2021): class centres sharded across ranks, and per step only the
    batch's positive classes plus a random ``sample_rate`` share of negatives enter the softmax."""

    enabled: bool = False
    sample_rate: float = 1.0


@dataclass(frozen=True)
class DistillConfig:
    """Distillation from a teacher's embeddings (:mod:`losses.distill`); off while ``teacher`` is "".

    teacher: ``"init"`` (the frozen original of ``model.init``: fine-tuning keeps what it knew),
    a named model (``facerec models``, e.g. ``"sface"``; its own input spec), an ``.onnx``
    face-embedding model (input spec below: the crop ``template``, channel ``color`` order,
    ``(pixel·scale − mean) / std``) or a facerec ``.pt`` checkpoint (its own spec).
    Loss: ``margin_weight·margin (labelled samples) + cosine_weight·(1 − cos(P·s, t)) +
    similarity_weight·MSE(batch cosine matrices)``. Teacher embeddings are cached in ``cache_dir``
    (default ``<cache root>/teacher``, :func:`facerec.io.cache.cache_root`).
    exclude_near: a folder of aligned crops (e.g. LFW's) — training crops whose teacher cosine
    to any of them is ≥ ``exclude_threshold`` are dropped (near-duplicates of the test set).
    """

    teacher: str = ""
    template: str = _INPUT.template
    color: str = _INPUT.color
    scale: float = _INPUT.scale
    mean: tuple[float, float, float] = _INPUT.mean
    std: tuple[float, float, float] = _INPUT.std
    runtime: str = "torch"  # an ONNX teacher without facerec metadata: torch (batched, bf16 where native) | onnxruntime
    precision: str = "auto"  # auto | fp32 | bf16 (torch runtime)
    batch_size: int = 64
    cosine_weight: float = 1.0
    similarity_weight: float = 0.0
    margin_weight: float = 1.0
    cache_dir: str = ""
    exclude_near: str = ""
    exclude_threshold: float = 0.95
    # Run the teacher on each step's augmented batch (a torch forward per step) instead of once
    # per crop: the student then matches it on the same pixels, so flips, grey and blur do not
    # pull the model away from the teacher. Teachers: "init", or a facerec model with the
    # student's preprocessing.
    online: bool = False

    def input_spec(self) -> InputSpec:
        """The input spec of an ONNX ``teacher`` without facerec metadata."""
        return InputSpec(self.template, self.color, self.scale, self.mean, self.std)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # sgd | adamw
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 5e-4
    no_decay_norm_bias: bool = True  # no weight decay on BatchNorm/PReLU/bias parameters
    clip_grad_norm: float = 0.0  # 0: off


@dataclass(frozen=True)
class ScheduleConfig:
    """Linear warm-up from 0 over ``warmup_epochs``, then ``decay`` (cosine | poly | constant)
    down to ``min_lr_ratio``·lr at the end of training; ``power`` for poly."""

    warmup_epochs: float = 1.0
    decay: str = "cosine"
    power: float = 2.0
    min_lr_ratio: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """``batch_size`` is the global batch (split evenly across DDP ranks)."""

    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 where native, else fp32; resolved when built) | fp32 | bf16 | fp16 (CUDA)
    channels_last: bool = True
    threads: int = 0  # torch CPU threads; 0: torch's default
    max_minutes: float = 0.0  # time budget: stop cleanly (after saving) once exceeded; 0: none
    max_steps: int = 0  # stop (after saving) at this global step; 0: none. Does not change the schedule
    log_every: int = 10
    checkpoint_every: int = 0  # steps between 'last' checkpoints besides epoch ends; 0: epoch ends only
    progress: bool = True
    tensorboard: bool = True  # if the tensorboard package is installed

    def __post_init__(self) -> None:
        if self.precision == "auto":  # resolved once, so the saved config says what ran
            choice = resolve_precision("auto", self.device)
            logging.getLogger(__name__).info("train.precision = %s (%s)", choice.precision, choice.reason)
            object.__setattr__(self, "precision", choice.precision)


@dataclass(frozen=True)
class EvalConfig:
    """Verification during training.

    Generated pairs of the held-out identities (``val_pairs`` at most, half same / half
    different) select the best checkpoint and its threshold. ``pairs_file`` (LFW
    ``pairs.txt`` format) with images under ``pairs_root`` is evaluated too (10-fold
    accuracy), aligned on the fly with MTCNN and cached — evaluation only, never training.
    """

    every_steps: int = 0  # 0: at each epoch end
    at_start: bool = False  # also evaluate the untrained model (a baseline)
    pairs_every: int = 1  # evaluate the pairs file at every k-th evaluation only (it can be slow)
    val_pairs: int = 2000
    pairs_file: str = ""
    pairs_root: str = ""
    pairs_limit: int = 0  # evaluate the first N pairs only (0: all)
    flip: bool = True
    batch_size: int = 64
    cache_dir: str = ""  # default: <out>/cache


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    partial_fc: PartialFCConfig = field(default_factory=PartialFCConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        validate(self)


def validate(c: Config) -> None:
    """Cross-field checks; raise ValueError with the offending key."""
    if c.data.format not in ("folder", "recordio"):
        raise ValueError("data.format must be 'folder' or 'recordio'")
    if c.data.align not in ("none", "center"):
        raise ValueError("data.align must be 'none' or 'center'")
    if c.optim.name not in ("sgd", "adamw"):
        raise ValueError("optim.name must be 'sgd' or 'adamw'")
    if c.schedule.decay not in ("cosine", "poly", "constant"):
        raise ValueError("schedule.decay must be 'cosine', 'poly' or 'constant'")
    if c.train.precision not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS}")
    if c.train.epochs < 1 or c.train.batch_size < 1:
        raise ValueError("train.epochs and train.batch_size must be >= 1")
    if not 0.0 < c.partial_fc.sample_rate <= 1.0:
        raise ValueError("partial_fc.sample_rate must be in (0, 1]")
    for k in ("flip", "grayscale", "downscale", "pose"):
        if not 0.0 <= getattr(c.augment, k) <= 1.0:
            raise ValueError(f"augment.{k} is a probability in [0, 1]")
    if not 0.0 < c.augment.downscale_min <= 1.0:
        raise ValueError("augment.downscale_min must be in (0, 1]")
    if not 0.0 <= c.augment.pose_yaw <= 60.0:
        raise ValueError("augment.pose_yaw must be in [0, 60] degrees")
    if c.optim.lr <= 0:
        raise ValueError("optim.lr must be > 0")
    m = c.model
    if m.freeze not in FREEZE_MODES or m.classifier_init not in CLASSIFIER_INITS:
        raise ValueError(f"model.freeze is {'|'.join(FREEZE_MODES)}, model.classifier_init {'|'.join(CLASSIFIER_INITS)}")
    if m.freeze == "all_but_last" and m.trainable_blocks < 1:
        raise ValueError("model.freeze = all_but_last needs model.trainable_blocks >= 1")
    if m.classifier_warmup_steps < 0:
        raise ValueError("model.classifier_warmup_steps must be >= 0")
    try:
        m.init_spec(c.data.template)
    except ValueError as exc:
        raise ValueError(f"model.init_*: {exc}") from None
    if not m.init and (c.distill.teacher == "init" or m.classifier_init == "class_means"):
        raise ValueError("distill.teacher = \"init\" and model.classifier_init = class_means need a model.init")
    d = c.distill
    if d.runtime not in DISTILL_RUNTIMES or d.precision not in PRECISION_CHOICES:
        raise ValueError(f"distill.runtime is {'|'.join(DISTILL_RUNTIMES)}, distill.precision {'|'.join(PRECISION_CHOICES)}")
    try:
        d.input_spec()
    except ValueError as exc:
        raise ValueError(f"distill (input spec): {exc}") from None
    if min(d.cosine_weight, d.similarity_weight, d.margin_weight) < 0:
        raise ValueError("distill weights must be >= 0")
    if d.teacher and d.cosine_weight + d.similarity_weight == 0:
        raise ValueError("distill.teacher is set but distill.cosine_weight and similarity_weight are both 0")
    if not d.teacher and (c.data.unlabeled or d.exclude_near):
        raise ValueError("data.unlabeled and distill.exclude_near need a distill.teacher")
    if d.teacher and c.partial_fc.enabled:
        raise ValueError("distillation with Partial FC is not supported")
    if d.teacher and d.template != c.data.template:
        raise ValueError(f"distill.template {d.template!r} differs from data.template {c.data.template!r}")
    if d.online and d.exclude_near:
        raise ValueError("distill.exclude_near needs the cached teacher (distill.online = false)")
    if not 0.0 < d.exclude_threshold <= 1.0:
        raise ValueError("distill.exclude_threshold must be in (0, 1]")


# -- dict <-> dataclass -------------------------------------------------------------------
def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a table")
        return _build(tp, value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a table")
        return dict(value)
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list")
        return [_coerce(v, arg, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{key}: expected a list of {len(args)} values")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        where = f"[{prefix}]" if prefix else "the top level"
        raise ValueError(f"unknown config key(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in values.items()}
    return cls(**kwargs)


def config_from_dict(d: Mapping[str, Any]) -> Config:
    """Build (and validate) a :class:`Config`; unknown keys raise ValueError."""
    return _build(Config, d)


def config_to_dict(c: Config) -> dict[str, Any]:
    """Plain nested dict (tuples as lists), JSON/TOML-ready."""
    return json.loads(json.dumps(dataclasses.asdict(c)))


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b.c=VALUE"`` → (["a", "b", "c"], value); VALUE is read as a TOML value
    (numbers, true/false, "strings", [lists]) and otherwise taken as a bare string."""
    if "=" not in item:
        raise ValueError(f"--set expects key=value, got {item!r}")
    key, raw = item.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ValueError(f"--set: empty key in {item!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(d: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set key=value`` items to a nested config dict (copied)."""
    out = json.loads(json.dumps(d))
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item}: {p} is not a table")
        node[path[-1]] = value
    return out


def expand_paths(d: dict[str, Any]) -> dict[str, Any]:
    """Expand ``$VARS`` and ``~`` in path-like string values (data.root, eval.pairs_*).
    ``$FACEREC_DATA_DIR`` defaults to ``../shared/data`` beside the repository."""
    env = dict(os.environ)
    env["FACEREC_DATA_DIR"] = str(data_dir())

    def expand(v: str) -> str:
        # Unknown variables stay as written; "$$" is a literal "$".
        return os.path.expanduser(string.Template(v).safe_substitute(env))

    return _map_paths(d, expand)


#: The config values that are paths (``data.unlabeled`` is a list of them).
PATH_KEYS = (("data", "root"), ("data", "unlabeled"), ("eval", "pairs_file"), ("eval", "pairs_root"),
             ("eval", "cache_dir"), ("model", "init"), ("distill", "teacher"), ("distill", "cache_dir"),
             ("distill", "exclude_near"))


def _map_paths(d: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    """A copy of config dict ``d`` with ``fn`` applied to every non-empty path value."""
    out = json.loads(json.dumps(d))
    for sec, key in PATH_KEYS:
        v = out.get(sec, {}).get(key)
        if isinstance(v, str) and v:
            out[sec][key] = fn(v)
        elif isinstance(v, list):
            out[sec][key] = [fn(x) if isinstance(x, str) and x else x for x in v]
    return out


def portable_paths(d: dict[str, Any]) -> dict[str, Any]:
    """Config dict ``d`` with each path reduced to its last component (``<…>/name``), for what
    leaves the training machine (checkpoint and ONNX metadata); named models stay as named."""
    from facerec.models import MODELS

    return _map_paths(d, lambda v: v if v in MODELS else f"<…>/{Path(v).name}")


def load_config(path: str | os.PathLike | None, overrides: Sequence[str] = ()) -> Config:
    """Read a TOML preset (or start from defaults when ``path`` is None) and apply overrides."""
    d: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such config file")
        try:
            d = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p}: invalid TOML ({exc})") from None
    return config_from_dict(expand_paths(apply_overrides(d, overrides)))


# -- writing ------------------------------------------------------------------------------
def to_toml(d: Mapping[str, Any]) -> str:
    """A config dict (sections of scalars, lists and tables) as TOML text."""
    return tomli_w.dumps(d)


def save_config(c: Config, out_dir: str | os.PathLike) -> None:
    """Write ``config.toml`` and ``config.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = config_to_dict(c)
    for name, text in (("config.toml", to_toml(d)), ("config.json", json.dumps(d, indent=2))):
        atomic_write_text(out / name, text)
