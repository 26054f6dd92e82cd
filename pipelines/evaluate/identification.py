"""Identification on LFW: the enrolment/probe split, gallery search, closed-set rank-k and
open-set DIR@FAR, and the text view."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec import FaceRecognizer
from facerec.metrics.verification import OpenSetPoint, dir_at_far, rank_k_accuracy

from ..photos import identity_folders
from .embedding import embed_image_files
from .pair_scores import _pct, _rel

IDENT_FARS: tuple[float, ...] = (1e-2, 1e-3)
IDENT_RANKS: tuple[int, ...] = (1, 5)


@dataclass(frozen=True)
class IdentSplit:
    """LFW identification split: one gallery image per enrolled person, the rest probes."""

    people: list[str]
    gallery: list[Path]
    gallery_ids: np.ndarray   # (G,) index into people
    probes: list[Path]
    probe_ids: np.ndarray     # (Q,)
    unknown: list[Path]       # images of people not enrolled


def lfw_identification_split(images_dir: str | os.PathLike, min_images: int = 2) -> IdentSplit:
    """People with ≥ ``min_images`` images: first image (sorted by name) enrolled, the others
    probes; people with fewer images: unknown probes."""
    root = Path(images_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such image folder")
    people, gallery, gids, probes, pids, unknown = [], [], [], [], [], []
    for person, imgs in identity_folders(root):
        if not imgs:
            continue
        if len(imgs) >= min_images:
            pid = len(people)
            people.append(person.name)
            gallery.append(imgs[0])
            gids.append(pid)
            probes += imgs[1:]
            pids += [pid] * (len(imgs) - 1)
        else:
            unknown += imgs
    if not gallery or not probes or not unknown:
        raise ValueError(f"{root}: need people with >= {min_images} images and people with fewer "
                         f"(found {len(gallery)} enrolled, {len(unknown)} unknown images)")
    return IdentSplit(people, gallery, np.array(gids), probes, np.array(pids), unknown)


def search_gallery(gallery: np.ndarray, queries: np.ndarray, k: int, model_id: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by cosine through :class:`facerec.gallery.Gallery` (flat FAISS index):
    (Q, k) scores and gallery row indices, best first (one template per gallery row)."""
    from facerec.gallery import Gallery

    g = Gallery(dim=gallery.shape[1], model_id=model_id, index="Flat")
    g.enroll_many([str(i) for i in range(len(gallery))], gallery, model_id=model_id)
    k = min(k, len(gallery))
    results = g.search_embeddings(np.asarray(queries, dtype=np.float32), k=k, model_id=model_id)
    scores = np.array([[m.score for m in r.matches] for r in results], dtype=np.float32).reshape(len(results), k)
    idx = np.array([[int(m.identity) for m in r.matches] for r in results], dtype=np.int64).reshape(len(results), k)
    return scores, idx


@dataclass(frozen=True)
class IdentReport:
    n_enrolled: int
    n_probes: int
    n_unknown: int
    rank: dict[int, float]
    open_set: list[OpenSetPoint]
    n_images: int
    fallback_images: list[Path]
    seconds: float

    def to_dict(self, root: Path | None = None) -> dict[str, Any]:
        return {"enrolled": self.n_enrolled, "known_probes": self.n_probes, "unknown_probes": self.n_unknown,
                "rank": {str(k): v for k, v in self.rank.items()},
                "dir_at_far": [p.to_dict() for p in self.open_set],
                "images": {"total": self.n_images, "fallback_center": len(self.fallback_images),
                           "fallback_files": [_rel(p, root) for p in self.fallback_images]},
                "seconds": round(self.seconds, 2)}


def evaluate_identification(recognizer: FaceRecognizer, split: IdentSplit, *, flip: bool = False,
                            batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
                            ranks: Sequence[int] = IDENT_RANKS, fars: Sequence[float] = IDENT_FARS,
                            progress: bool = True) -> IdentReport:
    """Closed-set rank-k and open-set DIR@FAR over a gallery/probe split."""
    t0 = time.perf_counter()
    images = embed_image_files(recognizer, split.gallery + split.probes + split.unknown, flip=flip,
                               batch_size=batch_size, cache_dir=cache_dir, progress=progress)
    idx = images.index()
    emb = images.embeddings
    g = emb[[idx[p] for p in split.gallery]]
    k = min(max(ranks), len(split.gallery))
    model_id = recognizer.model_id
    ks, ki = search_gallery(g, emb[[idx[p] for p in split.probes]], k, model_id)
    us, _ = search_gallery(g, emb[[idx[p] for p in split.unknown]], 1, model_id)
    ranked = split.gallery_ids[ki]  # (Q, k) identities, best first
    rank = rank_k_accuracy(ranked, split.probe_ids, [r for r in ranks if r <= k])
    correct = ranked[:, 0] == split.probe_ids
    open_set = [dir_at_far(ks[:, 0], correct, us[:, 0], f) for f in fars]
    return IdentReport(len(split.gallery), len(split.probes), len(split.unknown), rank, open_set,
                       len(images.paths), images.fallback_paths, time.perf_counter() - t0)


def format_identification(d: dict[str, Any]) -> str:
    m = d["model"]
    lines = [f"{d['protocol']}: {d['enrolled']} people enrolled (1 image each), {d['known_probes']} known probes, "
             f"{d['unknown_probes']} unknown probes",
             f"model: {m['backbone']} {m['fingerprint']} ({m['weights'] or m.get('model') or 'default'}), {m['precision']}, "
             f"flip TTA {'on' if m['flip'] else 'off'}",
             f"images: {d['images']['total']}, {d['images']['fallback_center']} without a detected face (centre crop used)"]
    lines += [f"rank-{k}: {_pct(v)}" for k, v in d["rank"].items()]
    for p in d["dir_at_far"]:
        thr = "none" if p["threshold"] is None else f"{p['threshold']:.4f}"
        lines.append(f"DIR @ FAR {p['target_far']:g}: {_pct(p['dir'])} (FAR {p['far']:.4f}, threshold {thr})")
    lines.append(f"time: {d['seconds']:.1f} s")
    return "\n".join(lines)
