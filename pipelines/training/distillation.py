"""Teacher targets for a training set: cached teacher embeddings, minus test-set near-duplicates.

Before training, every training crop's teacher embedding is computed once (cached, see
:mod:`.teacher_cache`). With ``distill.exclude_near`` (a folder of aligned test crops, e.g. LFW's)
every training crop whose teacher cosine to any of those crops reaches
``distill.exclude_threshold`` is dropped from the dataset; the dropped files are listed in
``<out>/near_duplicates.json``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from facerec.io.atomic import atomic_write_text

from .config import Config
from .data import FaceDataset, load_crop, scan_unlabeled
from .pretrained import PretrainedSource
from .teacher import Teacher, load_teacher
from .teacher_cache import default_teacher_cache, teacher_embeddings

log = logging.getLogger(__name__)

NEAR_DUPLICATES = "near_duplicates.json"


def max_cosine(queries: np.ndarray, refs: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For unit rows ``queries`` (N, D) against ``refs`` (M, D): each query's best cosine and its
    ref index (exact, chunked so memory stays at chunk × M)."""
    best = np.full(len(queries), -np.inf, np.float32)
    arg = np.zeros(len(queries), np.int64)
    for s in range(0, len(queries), chunk):
        sims = queries[s:s + chunk] @ refs.T  # (chunk, M)
        arg[s:s + chunk] = sims.argmax(axis=1)
        best[s:s + chunk] = sims[np.arange(len(sims)), arg[s:s + chunk]]
    return best, arg


def prepare_teacher_targets(cfg: Config, ds: FaceDataset, out: Path, progress: bool, write_report: bool,
                            pretrained: PretrainedSource | None = None) -> torch.Tensor:
    """(N, Dt) float32 teacher embeddings of ``ds``'s samples, after dropping (in place) the
    near-duplicates of ``distill.exclude_near``. ``pretrained``: ``model.init`` resolved, the
    teacher of ``distill.teacher = "init"``."""
    d = cfg.distill
    cache_dir = Path(d.cache_dir) if d.cache_dir else default_teacher_cache()
    teacher: Teacher = load_teacher(d, cfg.model, pretrained)
    emb = teacher_embeddings(teacher, len(ds), ds.crop, cache_dir, progress, desc="teacher: training crops")
    if d.exclude_near:
        refs = scan_unlabeled([d.exclude_near])
        ref_emb = teacher_embeddings(teacher, len(refs), lambda i: load_crop(refs[i], cfg.data), cache_dir, progress,
                                     desc="teacher: excluded set")
        best, arg = max_cosine(emb, ref_emb)
        drop = best >= d.exclude_threshold
        report = {"exclude_near": d.exclude_near, "threshold": d.exclude_threshold, "teacher_sha256": teacher.sha256,
                  "training_crops": len(ds), "reference_crops": len(refs), "dropped": int(drop.sum()),
                  "dropped_labelled": int((drop & (ds.labels >= 0)).sum()),
                  "pairs": [{"train": str(ds.files[i]), "reference": str(refs[arg[i]]), "cosine": round(float(best[i]), 4)}
                            for i in np.flatnonzero(drop)]}
        log.info("near-duplicates of %s (teacher cosine >= %.2f): %d of %d training crops dropped",
                 d.exclude_near, d.exclude_threshold, report["dropped"], len(ds))
        if write_report:
            atomic_write_text(out / NEAR_DUPLICATES, json.dumps(report, indent=1))
        ds.keep(~drop)
        emb = emb[~drop]
    return torch.from_numpy(np.ascontiguousarray(emb))
