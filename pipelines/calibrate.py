"""The workflow behind ``facerec calibrate`` (its command line: :mod:`pipelines.cli.calibrate`):
Choose a model's two thresholds on held-out identities, never on LFW.

* the verification threshold (``facerec verify``): accuracy-maximising on all same-person pairs
  of the held-out crops and as many different-person pairs drawn at random (seeded);
* the open-set search threshold (galleries, ``facerec search``, the service): the score that at
  most ``--far`` of all different-person comparisons exceed.

Both are written with the calibration counts into a copy of the checkpoint's metadata.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from facerec.recognizer import EmbedderLike
from facerec.metrics.verification import best_threshold, open_set_threshold

from .training.config import DataConfig
from .training.data import load_crop, scan_identities

log = logging.getLogger(__name__)

DEFAULT_FAR = 1e-4
CHUNK = 256  # crops read and embedded at a time (bounded memory, a moving progress bar)


def pair_scores(emb: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All same-identity and all different-identity cosine scores of unit rows ``emb`` (N, D)."""
    sims = emb @ emb.T  # (N, N)
    iu = np.triu_indices(len(emb), 1)
    same = owner[iu[0]] == owner[iu[1]]
    s = sims[iu]
    return s[same], s[~same]


def calibrate(embedder: EmbedderLike, crops_root: str | Path, far: float = DEFAULT_FAR, seed: int = 0,
              flip: bool = False, progress: bool = True) -> dict[str, Any]:
    """Both thresholds from the aligned crops of held-out identities (``root/<identity>/<crop>``);
    ``progress``: a bar with the time left while the crops are read and embedded."""
    from tqdm import tqdm

    ids = scan_identities(crops_root, 2)
    files = [(k, f) for k, ident in enumerate(ids) for f in ident.files]
    cfg = DataConfig(root=str(crops_root), template=embedder.preprocessing.template)
    owner = np.array([k for k, _ in files])
    parts, crops_n = [], 0
    with tqdm(total=len(files), desc="calibrate", unit="crop", disable=not progress) as bar:
        for s in range(0, len(files), CHUNK):
            crops = np.stack([load_crop(f, cfg) for _, f in files[s:s + CHUNK]])
            parts.append(embedder.embed(crops, flip=flip))
            crops_n += len(crops)
            bar.update(len(crops))
    emb = np.concatenate(parts)
    genuine, impostor = pair_scores(emb, owner)
    rng = np.random.default_rng(seed)
    balanced_imp = rng.choice(impostor, size=min(len(genuine), len(impostor)), replace=False)
    scores = np.concatenate([genuine, balanced_imp])
    labels = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(balanced_imp), bool)])
    thr, acc = best_threshold(scores, labels)
    search = open_set_threshold(impostor, far)
    return {"threshold": thr, "search_threshold": search, "search_far": far,
            "calibration": {"identities": len(ids), "crops": crops_n, "genuine_pairs": int(len(genuine)),
                            "impostor_pairs": int(len(impostor)), "flip": flip,
                            "verification_accuracy": acc,
                            "tar_at_threshold": float(np.mean(genuine >= thr)),
                            "far_at_threshold": float(np.mean(impostor >= thr)),
                            "tar_at_search_threshold": float(np.mean(genuine >= search)),
                            "far_at_search_threshold": float(np.mean(impostor >= search))}}
