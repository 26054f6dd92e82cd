"""The training loop: backbone + margin loss on a folder-per-identity dataset.

Determinism and exact resumption: the batch order of an epoch is a function of
(seed, epoch), each sample's augmentation of (seed, epoch, index), the Partial FC negative
sampling of (seed, step, rank); the checkpoint stores the model, loss (class centres),
optimizer, scheduler, scaler, step, epoch, next batch and RNG states. So a run stopped at
any step and resumed gives the same weights as an uninterrupted one (on CPU).
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import losses
from facerec.backbones import create_backbone
from facerec.runtime.embedder import Embedder
from facerec.errors import FacerecError
from facerec.runtime.preprocessing import Preprocessing

from .checkpoint import load_state, read_training_state, rng_state, save_state, set_rng_state
from .config import Config, config_from_dict, config_to_dict, portable_paths, save_config
from .data import (UNLABELED, EpochBatches, FaceDataset, load_crop, make_loader, scan_identities, scan_unlabeled,
                   split_identities)
from .distributed import DistEnv, barrier, broadcast_flag, dist_env, init_distributed
from .freeze import Freezer
from .pretrained import PretrainedSource, class_means, imprint_centres, load_pretrained, resolve_init
from .run_log import MetricsLog
from .schedule import make_schedule, make_scheduler
from .validation import IndexPairs, generated_pairs, read_pairs_subset, verify_crops, verify_pairs_file

log = logging.getLogger(__name__)

#: Config keys that may differ between a run and its ``--resume`` (they do not change the
#: trajectory of the weights).
RESUME_MUTABLE = {("train", "max_minutes"), ("train", "max_steps"), ("train", "progress"), ("train", "log_every"),
                  ("train", "checkpoint_every"), ("train", "tensorboard"), ("train", "threads"), ("eval", None),
                  ("data", "num_workers"), ("data", "preload"), ("distill", "cache_dir"), ("distill", "runtime"),
                  ("distill", "precision"), ("distill", "batch_size")}


class TrainingError(FacerecError):
    """Training cannot go on (non-finite loss, incompatible resume...)."""


@dataclass
class TrainResult:
    out_dir: Path
    status: str  # finished | time_budget | max_steps
    step: int
    epoch: int
    best: dict[str, Any] = field(default_factory=dict)
    epoch_losses: list[float] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)


def pick_device(name: str, env: DistEnv) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("train.device is cuda but no CUDA device is available")
        if dev.index is None:
            dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
    return dev


def autocast_context(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """Autocast for the backbone: bf16 on CPU or CUDA, fp16 on CUDA only."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("train.precision=fp16 needs CUDA; use bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def build_backbone(cfg: Config) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone and the kwargs that rebuild it (stored in the embedder checkpoint)."""
    pre = Preprocessing(template=cfg.data.template)
    kwargs: dict[str, Any] = {"embedding_size": cfg.model.embedding_size, "input_size": pre.size[::-1]}
    if cfg.model.dropout:
        kwargs["dropout"] = cfg.model.dropout
    return create_backbone(cfg.model.backbone, **kwargs), kwargs


def backbone_of_state(state: dict[str, Any], path: str, template: str) -> tuple[nn.Module, str, dict[str, Any],
                                                                             Preprocessing]:
    """The backbone (untrained weights), its name, kwargs and preprocessing of a training state:
    recorded in the state, or, for states written before they were, rebuilt from its config.
    ValueError when it takes other crops than ``template``."""
    if state.get("backbone"):
        name, kwargs = str(state["backbone"]), dict(state["backbone_kwargs"])
        if "input_size" in kwargs and kwargs["input_size"] is not None:
            kwargs["input_size"] = tuple(kwargs["input_size"])
        pre = Preprocessing.from_dict(state["preprocessing"])
        model = create_backbone(name, **kwargs)
    else:
        old = config_from_dict(state["config"])
        if old.model.init:  # its architecture came from that model, which the state does not name
            raise ValueError(f"model.init: {path} was started from {old.model.init} and predates training states "
                             "that record their backbone; start from its *_embedder.pt instead")
        model, kwargs = build_backbone(old)
        name, pre = old.model.backbone, Preprocessing(template=old.data.template)
    if pre.template != template:
        raise ValueError(f"model.init: {path} takes {pre.template} crops, data.template is {template}")
    return model, name, kwargs, pre


def build_head(cfg: Config, num_classes: int, env: DistEnv, embedding_size: int | None = None) -> nn.Module:
    """The loss with its class centres: ``losses.create_loss`` or a Partial FC shard
    (``embedding_size``: the backbone's, default ``model.embedding_size``)."""
    dim = embedding_size or cfg.model.embedding_size
    if cfg.partial_fc.enabled:
        from .partial_fc import PartialFC

        return PartialFC(cfg.loss.name, dim, num_classes, cfg.partial_fc.sample_rate,
                         seed=cfg.train.seed, rank=env.rank, world=env.world, **cfg.loss.params)
    return losses.create_loss(cfg.loss.name, dim, num_classes, **cfg.loss.params)


def param_groups(modules: list[nn.Module], cfg: Config) -> list[dict[str, Any]]:
    """Weight decay on weights of ≥ 2 dims (convs, linears, class centres); none on
    BatchNorm/PReLU/bias vectors when ``optim.no_decay_norm_bias`` (they are not scales to shrink)."""
    decay, no_decay = [], []
    for m in modules:
        for p in m.parameters():
            if not p.requires_grad:
                continue
            (no_decay if cfg.optim.no_decay_norm_bias and p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.optim.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(groups: list[dict[str, Any]], cfg: Config) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov)
    return torch.optim.AdamW(groups, lr=o.lr, betas=o.betas)


class TrainModule(nn.Module):
    """backbone + loss head (+ distillation): ``forward(images, labels, teacher) -> mean loss``.
    What DDP wraps when the class centres are replicated (no Partial FC).

    With ``distill``: ``margin_weight · head(labelled samples) + distill(all samples, teacher)``;
    samples labelled :data:`~.data.UNLABELED` train the distillation term only. The last
    step's terms are kept in ``last_terms`` for the metrics log.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, autocast: Callable[[], Any],
                 distill: nn.Module | None = None, margin_weight: float = 1.0) -> None:
        super().__init__()
        self.backbone, self.head, self.autocast = backbone, head, autocast
        self.distill, self.margin_weight = distill, margin_weight
        self.last_terms: dict[str, float] = {}

    def forward(self, images: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None = None) -> torch.Tensor:
        with self.autocast():
            emb = self.backbone(images)  # (N, D)
        emb = emb.float()  # losses compute in fp32 regardless of autocast
        if self.distill is None:
            return self.head(emb, labels)
        labelled = labels != UNLABELED
        loss = emb.new_zeros(())
        if self.margin_weight and bool(labelled.any()):
            margin = self.head(emb[labelled], labels[labelled])
            loss = loss + self.margin_weight * margin
            self.last_terms["margin_loss"] = float(margin.detach())
        d = self.distill(emb, teacher)  # teacher: (N, Dt) constants
        self.last_terms["distill_loss"] = float(d.detach())
        return loss + d


def train_step(module: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
               images: torch.Tensor, labels: torch.Tensor, clip: float, step: int,
               teacher: torch.Tensor | None = None) -> float:
    """One optimisation step; returns the loss. A non-finite loss raises :class:`TrainingError`."""
    loss = module(images, labels) if teacher is None else module(images, labels, teacher)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingError(f"loss is {value} at step {step}: training diverged "
                            f"(lower optim.lr, check the data, or use precision=fp32)")
    optimizer.zero_grad(set_to_none=True)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if scaler is not None:
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
    return value


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _config_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = []
    for sec in sorted(set(a) | set(b)):
        for key in sorted(set(a.get(sec, {})) | set(b.get(sec, {}))):
            if (sec, key) in RESUME_MUTABLE or (sec, None) in RESUME_MUTABLE:
                continue
            if a.get(sec, {}).get(key) != b.get(sec, {}).get(key):
                out.append(f"{sec}.{key}: {a.get(sec, {}).get(key)!r} -> {b.get(sec, {}).get(key)!r}")
    return out


class Trainer:
    """Set up from a :class:`Config` and an output folder; :meth:`fit` runs to the end or a stop."""

    def __init__(self, cfg: Config, out_dir: str | Path, resume: bool = False) -> None:
        self.cfg, self.out = cfg, Path(out_dir)
        self.env = dist_env()
        self.device = pick_device(cfg.train.device, self.env)
        init_distributed(self.env, self.device)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed % 2**32)
        self.progress = cfg.train.progress and self.env.is_main
        self.preprocessing = Preprocessing(template=cfg.data.template)

        self.resuming = resume  # a resumed run takes its class centres from the checkpoint
        self._build_data()
        self._build_model()

        self.step, self.epoch, self.batch = 0, 0, 0
        self.best: dict[str, Any] = {}
        self.n_evals = 0
        self.evals: list[dict[str, Any]] = []
        self._last_res: dict[str, Any] = {}  # the latest evaluation (its threshold goes into checkpoints)
        if resume:
            self._resume()
        if self.env.is_main:
            save_config(cfg, self.out)

    def _build_data(self) -> None:
        """Identities, the identity-disjoint split, the training set (with unlabeled files and
        teacher targets when distilling) and the evaluation pairs."""
        cfg = self.cfg
        if cfg.data.format == "recordio":
            from .recordio import scan_recordio

            ids = scan_recordio(cfg.data.root, cfg.data.min_images_per_identity, cfg.data.max_identities)
        else:
            ids = scan_identities(cfg.data.root, cfg.data.min_images_per_identity, cfg.data.max_identities)
        self.split = split_identities(ids, cfg.data.val_identities, cfg.train.seed)
        unlabeled = scan_unlabeled(cfg.data.unlabeled) if cfg.data.unlabeled else []
        self.train_ds = FaceDataset(self.split.train, cfg.data, cfg.augment, cfg.train.seed, progress=self.progress,
                                    unlabeled=unlabeled)
        # model.init: a run's training state (read once, used by _build_model) or a pretrained model
        self._init_state = read_training_state(cfg.model.init) if cfg.model.init else None
        self.pretrained: PretrainedSource | None = None
        if cfg.model.init and self._init_state is None:
            self.pretrained = resolve_init(cfg.model, cfg.data.template)
        elif cfg.distill.teacher == "init":
            raise ValueError("distill.teacher = \"init\" needs model.init to name a pretrained model (a named model, "
                             "an .onnx or a .pt embedder), not a run's training state")
        self.teacher_emb: torch.Tensor | None = None  # (N, Dt) teacher embedding of each training sample
        if cfg.distill.teacher and not cfg.distill.online:
            from .distillation import prepare_teacher_targets

            self.teacher_emb = prepare_teacher_targets(cfg, self.train_ds, self.out, self.progress, self.env.is_main,
                                                       self.pretrained)
        self.steps_per_epoch = len(self.train_ds) // cfg.train.batch_size
        EpochBatches.check(len(self.train_ds), cfg.train.batch_size, self.env.world)
        self.val_pairs: IndexPairs | None = None
        self.val_crops: np.ndarray | None = None
        if self.env.is_main and self.split.val:
            self.val_pairs = generated_pairs([i.files for i in self.split.val], cfg.eval.val_pairs, cfg.train.seed)
            self.val_crops = np.stack([load_crop(p, cfg.data) for p in self.val_pairs.images])
        self.file_pairs = None
        if self.env.is_main and cfg.eval.pairs_file:
            from facerec.recognizer import create_detector

            self.file_pairs = read_pairs_subset(cfg.eval.pairs_file, cfg.eval.pairs_root or
                                                Path(cfg.eval.pairs_file).parent / "lfw", cfg.eval.pairs_limit)
            self.detector = create_detector(runtime="torch", device=str(self.device))
            self.cache_dir = Path(cfg.eval.cache_dir) if cfg.eval.cache_dir else self.out / "cache"

    def _build_model(self) -> None:
        """Backbone (random, from a pretrained model, or from a run's state), loss head,
        distillation term, freezing, optimiser, schedule and the module DDP wraps."""
        cfg = self.cfg
        state, self._init_state = self._init_state, None  # not kept: it holds a whole optimiser state
        if self.pretrained is not None:
            # The pretrained model's own architecture, weights and preprocessing (pretrained.py).
            emb = load_pretrained(self.pretrained, cfg.data.template)
            self.backbone, self.backbone_name, self.backbone_kwargs = emb.model.train(), emb.backbone_name, \
                emb.backbone_kwargs
            self.preprocessing = emb.preprocessing
            self.init_fingerprint = emb.fingerprint()  # recorded in the fine-tuned model's metadata
            log.info("backbone: %s (%s, %d-d), fingerprint %s", cfg.model.init, emb.backbone_name,
                     emb.embedding_size, emb.fingerprint())
        elif state is not None:
            # A run's training state brings its own architecture and preprocessing, like a
            # pretrained model (e.g. an ONNX graph it fine-tuned); its weights follow below.
            self.backbone, self.backbone_name, self.backbone_kwargs, self.preprocessing = \
                backbone_of_state(state, cfg.model.init, cfg.data.template)
        else:
            self.backbone, self.backbone_kwargs = build_backbone(cfg)
            self.backbone_name = cfg.model.backbone
        dim = int(self.backbone.embedding_size)
        self.head = build_head(cfg, len(self.split.train), self.env, dim)
        self.distill: nn.Module | None = None
        self.online_teacher: nn.Module | None = None  # distill.online: runs on each augmented batch
        if cfg.distill.teacher and cfg.distill.online:
            from .teacher import online_teacher

            self.online_teacher = online_teacher(cfg.distill, cfg.model, self.pretrained, self.preprocessing,
                                                 str(self.device))
        if self.teacher_emb is not None or self.online_teacher is not None:
            teacher_dim = int(self.teacher_emb.shape[1] if self.teacher_emb is not None
                              else self.online_teacher.embedding_size)
            self.distill = losses.DistillLoss(dim, teacher_dim, cfg.distill.cosine_weight,
                                              cfg.distill.similarity_weight)
        if state is not None:
            self._init_from_state(cfg.model.init, state)
        if cfg.model.classifier_init == "class_means" and state is None and not self.resuming:
            imprint_centres(self.head, self._pretrained_class_means())
        self.freezer = Freezer(self.backbone, cfg.model.freeze, cfg.model.trainable_blocks,
                               cfg.model.classifier_warmup_steps, cfg.model.freeze_batchnorm)
        if cfg.model.classifier_warmup_steps and self.env.enabled:
            raise TrainingError("model.classifier_warmup_steps is not supported with DDP "
                                "(use model.classifier_init = \"class_means\")")
        if self.distill is not None:
            self.distill.to(self.device)
            if self.teacher_emb is not None:
                self.teacher_emb = self.teacher_emb.to(self.device)
        self.backbone.to(self.device)
        self.head.to(self.device)
        if cfg.train.channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        self.autocast = autocast_context(cfg.train.precision, self.device)
        trained = [self.backbone, self.head] + ([self.distill] if self.distill is not None else [])
        self.optimizer = build_optimizer(param_groups(trained, cfg), cfg)
        self.schedule = make_schedule(cfg.schedule, self.steps_per_epoch, cfg.train.epochs)
        self.scheduler = make_scheduler(self.optimizer, self.schedule)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.train.precision == "fp16" else None
        if self.env.enabled:
            ddp_kw = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
            if cfg.partial_fc.enabled:  # centres are sharded: only the backbone is replicated
                self.module: nn.Module = TrainModule(nn.parallel.DistributedDataParallel(self.backbone, **ddp_kw),
                                                     self.head, self.autocast)
            else:
                self.module = nn.parallel.DistributedDataParallel(
                TrainModule(self.backbone, self.head, self.autocast, self.distill, cfg.distill.margin_weight), **ddp_kw)
        else:
            self.module = TrainModule(self.backbone, self.head, self.autocast, self.distill, cfg.distill.margin_weight)

    def _pretrained_class_means(self) -> torch.Tensor:
        """(classes, D) mean pretrained embedding of each class's crops (the teacher targets when
        the cached teacher is the init model; otherwise computed once and cached the same way)."""
        labels = self.train_ds.labels
        if self.teacher_emb is not None and self.cfg.distill.teacher == "init":
            return class_means(self.teacher_emb.cpu().numpy(), labels, len(self.train_ds.classes))
        from .teacher import build_teacher
        from .teacher_cache import default_teacher_cache, teacher_embeddings

        d = self.cfg.distill
        teacher = build_teacher(self.pretrained, self.cfg.data.template, d.precision, d.batch_size)
        idx = np.flatnonzero(labels >= 0)  # labelled crops only: unlabelled ones have no class
        emb = teacher_embeddings(teacher, len(idx), lambda i: self.train_ds.crop(int(idx[i])),
                                 Path(d.cache_dir) if d.cache_dir else default_teacher_cache(), self.progress,
                                 desc="pretrained model: class means")
        return class_means(emb, labels[idx], len(self.train_ds.classes))

    def _load_backbone(self, path: str, weights: dict[str, torch.Tensor]) -> None:
        """A run state's weights into the backbone built from that state (:func:`backbone_of_state`)."""
        try:
            self.backbone.load_state_dict(weights)
        except RuntimeError as exc:
            raise ValueError(f"model.init: {path} does not fit this model: {str(exc).splitlines()[0]}") from None

    def _init_from_state(self, path: str, state: dict[str, Any]) -> None:
        """Start from a run's training state with this run's own schedule: the backbone always; the
        loss head only when it was trained on the same classes in the same order (and is not
        sharded by Partial FC), the distillation projection only when its shape fits. Optimiser,
        schedule and step start afresh (that is what distinguishes this from ``--resume``)."""
        self._load_backbone(path, state["model"])
        taken = ["backbone"]
        sharded = self.cfg.partial_fc.enabled and self.env.enabled
        if not sharded and list(state.get("classes") or []) == list(self.train_ds.classes):
            try:
                self.head.load_state_dict(state["loss"])
                taken.append("loss head")
            except RuntimeError:  # another loss or embedding size: the head starts afresh
                pass
        if self.distill is not None and state.get("distill"):
            try:
                self.distill.load_state_dict(state["distill"])
                taken.append("distillation projection")
            except RuntimeError:
                pass
        log.info("initialised from training state %s (step %s): %s", path, state.get("step"), ", ".join(taken))

    # -- checkpoints ----------------------------------------------------------------------
    def _state_path(self, name: str) -> Path:
        # With Partial FC on several ranks each rank holds different centres: one file per rank.
        if self.cfg.partial_fc.enabled and self.env.enabled:
            return self.out / f"{name}.rank{self.env.rank}-of-{self.env.world}.pt"
        return self.out / f"{name}.pt"

    def _resume(self) -> None:
        state = load_state(self._state_path("last"))
        # Read through today's dataclasses first: a key added since (with its default) is no change.
        diff = _config_diff(config_to_dict(config_from_dict(state["config"])), config_to_dict(self.cfg))
        if diff:
            raise TrainingError("cannot resume with a different configuration: " + "; ".join(diff))
        if state.get("world", 1) != self.env.world:
            raise TrainingError(f"checkpoint was written by {state.get('world')} processes, now {self.env.world}")
        try:
            self.backbone.load_state_dict(state["model"])
            self.head.load_state_dict(state["loss"])
            if self.distill is not None:
                self.distill.load_state_dict(state["distill"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise TrainingError(f"checkpoint does not fit this model: {str(exc).splitlines()[0]}") from None
        self.step, self.epoch, self.batch = int(state["step"]), int(state["epoch"]), int(state["batch"])
        self.best = dict(state.get("best") or {})
        self.n_evals = int(state.get("n_evals", 0))  # keeps eval.pairs_every's cadence across resumes
        set_rng_state(state["rng"])
        log.info("resumed at step %d (epoch %d, batch %d)", self.step, self.epoch, self.batch)

    def _state(self) -> dict[str, Any]:
        return {"config": config_to_dict(self.cfg), "classes": list(self.train_ds.classes), "world": self.env.world,
                # what rebuilds the backbone without the run's config or its model.init file
                "backbone": self.backbone_name, "backbone_kwargs": self.backbone_kwargs,
                "preprocessing": self.preprocessing.to_dict(),
                "model": self.backbone.state_dict(), "loss": self.head.state_dict(),
                "distill": self.distill.state_dict() if self.distill is not None else None,
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "step": self.step, "epoch": self.epoch, "batch": self.batch, "best": self.best, "rng": rng_state(),
                "n_evals": self.n_evals}

    def export_embedder(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        """Write the inference checkpoint (``FaceRecognizer.load(path)`` works on it)."""
        emb = Embedder.create(self.backbone_name, self.preprocessing, **self.backbone_kwargs)
        emb.model.load_state_dict({k: v.detach().cpu() for k, v in self.backbone.state_dict().items()})
        meta: dict[str, Any] = {"training": portable_paths(config_to_dict(self.cfg)), "dataset": self.split.counts(),
                                "num_classes": len(self.train_ds.classes), "step": self.step, "epoch": self.epoch,
                                "init_fingerprint": getattr(self, "init_fingerprint", None)}
        meta.update(extra or {})
        emb.metadata = {k: v for k, v in meta.items() if v is not None}
        emb.save(path)

    def save(self, name: str, extra: dict[str, Any] | None = None) -> None:
        """``<name>.pt`` (training state) and, on rank 0, ``<name>_embedder.pt``."""
        if self.env.is_main or (self.cfg.partial_fc.enabled and self.env.enabled):
            save_state(self._state(), self._state_path(name))
        if self.env.is_main:
            self.export_embedder(self.out / f"{name}_embedder.pt", extra)

    # -- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Verification accuracy on the held-out identities' pairs and on the pairs file."""
        res: dict[str, Any] = {}
        self.n_evals += 1
        use_file = self.file_pairs is not None and (self.n_evals - 1) % max(1, self.cfg.eval.pairs_every) == 0
        if not self.env.is_main or (self.val_pairs is None and not use_file):
            return res
        precision = "bf16" if self.cfg.train.precision == "bf16" else "fp32"
        # Embedder puts the model in eval mode (BN running statistics) — the inference path.
        emb = Embedder(self.backbone, self.backbone_name, self.preprocessing, self.backbone_kwargs,
                       device=self.device, precision=precision, channels_last=self.cfg.train.channels_last)
        try:
            if self.val_pairs is not None:
                r = verify_crops(emb, self.val_crops, self.val_pairs, self.cfg.eval.batch_size, self.cfg.eval.flip)
                res.update(val_acc=r["acc"], val_std=r["std"], val_threshold=r["threshold"])
            if use_file:
                r = verify_pairs_file(emb, self.detector, self.file_pairs, self.cache_dir, self.cfg.eval.batch_size,
                                      self.cfg.eval.flip, self.progress)
                res.update(pairs_acc=r["acc"], pairs_std=r["std"], pairs_threshold=r["threshold"],
                           pairs_fallbacks=r["fallbacks"])
        finally:
            self.backbone.train()
        return res

    def _after_eval(self, res: dict[str, Any], metrics: MetricsLog, elapsed: float) -> None:
        if not res:
            return
        self.evals.append({"step": self.step, "epoch": self.epoch, **res})
        metrics.write("eval", step=self.step, epoch=self.epoch, elapsed_s=elapsed, **res)
        key = "val_acc" if "val_acc" in res else "pairs_acc"
        if key in res and res[key] > self.best.get("value", -1.0):
            meta = self._export_meta(res)
            self.best = {"metric": key, "value": res[key], "step": self.step, "threshold": meta["threshold"]}
            self.save("best", meta)
        log.info("step %d: %s", self.step, ", ".join(f"{k}={v:.4f}" for k, v in res.items()))

    def _export_meta(self, res: dict[str, Any]) -> dict[str, Any]:
        """Embedder metadata: threshold from the held-out identities (never from the test pairs
        file unless there is no validation split)."""
        thr = res.get("val_threshold", res.get("pairs_threshold"))
        return {"threshold": thr, "val_accuracy": res.get("val_acc"), "pairs_accuracy": res.get("pairs_acc"),
                "threshold_source": "held-out identities" if "val_threshold" in res else
                ("pairs file" if "pairs_threshold" in res else None)}

    # -- loop -----------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train to the end of the schedule, or until a stop condition (see :meth:`_stop_reason`)."""
        metrics = MetricsLog(self.out, self.cfg.train.tensorboard) if self.env.is_main else None
        result = TrainResult(self.out, "finished", self.step, self.epoch)
        t0 = time.monotonic()
        if self.cfg.eval.at_start and self.step == 0:
            self._evaluate_and_log(metrics, t0, at_start=True)
        self.module.train()
        try:
            while self.epoch < self.cfg.train.epochs:
                losses_epoch, stop = self._run_epoch(metrics, t0)
                if stop is not None:
                    if self.batch >= self.steps_per_epoch:  # stopped on an epoch's last batch
                        self.epoch, self.batch = self.epoch + 1, 0
                    self.save("last", self._export_meta(self._last_res))
                    result.status = stop
                    log.info("stopping at step %d (%s); resume with --resume", self.step, stop)
                    return self._finish(result, losses_epoch, metrics)
                result.epoch_losses.append(float(np.mean(losses_epoch)) if losses_epoch else float("nan"))
                self.epoch, self.batch = self.epoch + 1, 0
                if not self.cfg.eval.every_steps:
                    self._evaluate_and_log(metrics, t0)
                if metrics:
                    metrics.write("epoch", step=self.step, epoch=self.epoch, elapsed_s=time.monotonic() - t0,
                                  loss=result.epoch_losses[-1])
                self.save("last", self._export_meta(self._last_res))
            return self._finish(result, [], metrics)
        finally:
            if metrics:
                metrics.close()

    def _stop_reason(self, t0: float) -> str | None:
        """"max_steps" or "time_budget" once that limit is reached (same verdict on every rank)."""
        cfg, stop = self.cfg.train, None
        if cfg.max_steps and self.step >= cfg.max_steps:
            stop = "max_steps"
        elif cfg.max_minutes and time.monotonic() - t0 >= cfg.max_minutes * 60:
            stop = "time_budget"
        return (stop or "time_budget") if broadcast_flag(self.env, stop is not None, self.device) else None

    def _evaluate_and_log(self, metrics: MetricsLog | None, t0: float, at_start: bool = False) -> None:
        """Evaluate, log, keep the best checkpoint (not at the start), and wait for every rank."""
        res = self.evaluate()
        if at_start:
            if metrics:
                metrics.write("eval", step=0, epoch=0, elapsed_s=0.0, **res)
            if res:
                self.evals.append({"step": 0, "epoch": 0, **res})
        else:
            self._last_res = res
            if metrics:
                self._after_eval(res, metrics, time.monotonic() - t0)
        barrier(self.env)

    def _run_epoch(self, metrics: MetricsLog | None, t0: float) -> tuple[list[float], str | None]:
        """The rest of the current epoch, from batch ``self.batch``; returns its step losses and
        the stop condition that ended it early, if any."""
        cfg, env = self.cfg, self.env
        sampler = EpochBatches(len(self.train_ds), cfg.train.batch_size, cfg.train.seed, self.epoch, self.batch,
                               env.rank, env.world)
        loader = make_loader(self.train_ds, sampler, self.preprocessing, cfg.data.num_workers)
        bar = tqdm(loader, total=len(sampler), desc=f"epoch {self.epoch + 1}/{cfg.train.epochs}", unit="batch",
                   disable=not self.progress, leave=False)
        a_softmax_step = getattr(self.head, "step", None)  # A-Softmax's λ schedule, stepped here
        losses_epoch: list[float] = []
        t_log, n_log, loss_log = time.monotonic(), 0, []
        for images, labels, indices in bar:
            value = self._train_batch(images, labels, indices)
            self.scheduler.step()
            if callable(a_softmax_step):
                a_softmax_step()
            self.step += 1
            self.batch += 1
            losses_epoch.append(value)
            loss_log.append(value)
            n_log += images.shape[0] * env.world
            lr = self.optimizer.param_groups[0]["lr"]
            bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}")
            if metrics and self.step % cfg.train.log_every == 0:
                dt = time.monotonic() - t_log
                metrics.write("train", step=self.step, epoch=self.epoch, elapsed_s=time.monotonic() - t0, lr=lr,
                              loss=float(np.mean(loss_log)), img_per_s=n_log / max(dt, 1e-9),
                              **_unwrap(self.module).last_terms)
                t_log, n_log, loss_log = time.monotonic(), 0, []
            if cfg.eval.every_steps and self.step % cfg.eval.every_steps == 0:
                self._evaluate_and_log(metrics, t0)
            stop = self._stop_reason(t0)
            if stop is not None:
                bar.close()
                return losses_epoch, stop
            if cfg.train.checkpoint_every and self.step % cfg.train.checkpoint_every == 0:
                self.save("last", self._export_meta(self._last_res))
        bar.close()
        return losses_epoch, None

    def _train_batch(self, images: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> float:
        """One optimisation step on a collated batch; returns its loss."""
        images = images.to(self.device, non_blocking=True)
        if self.cfg.train.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(self.device, non_blocking=True)
        teacher = self.teacher_emb[indices.to(self.device)] if self.teacher_emb is not None else None
        if self.online_teacher is not None:
            with torch.no_grad(), self.autocast():
                teacher = self.online_teacher(images).float()  # (N, Dt), normalised by the loss
        self.freezer.update(self.step)
        return train_step(self.module, self.optimizer, self.scaler, images, labels, self.cfg.optim.clip_grad_norm,
                          self.step, teacher)

    def _finish(self, result: TrainResult, partial_losses: list[float], metrics: MetricsLog | None) -> TrainResult:
        if partial_losses:
            result.epoch_losses.append(float(np.mean(partial_losses)))
        result.step, result.epoch, result.best = self.step, self.epoch, dict(self.best)
        result.evals = list(self.evals)
        if self.env.is_main and not (self.out / "best_embedder.pt").exists():
            # No evaluation ran (no validation split): the last weights are the best we know.
            self.export_embedder(self.out / "best_embedder.pt", {})
        barrier(self.env)
        return result


def train(cfg: Config, out_dir: str | Path, resume: bool = False) -> TrainResult:
    """Train per ``cfg`` into ``out_dir`` (or continue the run there with ``resume``)."""
    return Trainer(cfg, out_dir, resume=resume).fit()


def resolved_config_from_run(out_dir: str | Path) -> Config:
    """The configuration a run in ``out_dir`` was started with (from its ``config.json``)."""
    import json

    p = Path(out_dir) / "config.json"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no saved configuration; pass --config")
    return config_from_dict(json.loads(p.read_text(encoding="utf-8")))
