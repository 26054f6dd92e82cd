"""``facerec calibrate``: choose a model's two thresholds on held-out identities, never on LFW.

* the verification threshold (``facerec verify``): accuracy-maximising on all same-person pairs
  of the held-out crops and as many different-person pairs drawn at random (seeded);
* the open-set search threshold (galleries, ``facerec search``, the service): the score that at
  most ``--far`` of all different-person comparisons exceed.

Both are written with the calibration counts into a copy of the checkpoint's metadata.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from facerec.recognizer import EmbedderLike, load_embedder
from facerec.verification import best_threshold, open_set_threshold

from .common import add_weights_args

from .training.config import DataConfig
from .training.data import load_crop, scan_identities

log = logging.getLogger(__name__)

DEFAULT_FAR = 1e-4


def pair_scores(emb: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All same-identity and all different-identity cosine scores of unit rows ``emb`` (N, D)."""
    sims = emb @ emb.T  # (N, N)
    iu = np.triu_indices(len(emb), 1)
    same = owner[iu[0]] == owner[iu[1]]
    s = sims[iu]
    return s[same], s[~same]


def calibrate(embedder: EmbedderLike, crops_root: str | Path, far: float = DEFAULT_FAR, seed: int = 0,
              flip: bool = False) -> dict[str, Any]:
    """Both thresholds from the aligned crops of held-out identities (``root/<identity>/<crop>``)."""
    ids = scan_identities(crops_root, 2)
    files = [(k, f) for k, ident in enumerate(ids) for f in ident.files]
    cfg = DataConfig(root=str(crops_root), template=embedder.preprocessing.template)
    crops = np.stack([load_crop(f, cfg) for _, f in files])
    owner = np.array([k for k, _ in files])
    emb = embedder.embed(crops, flip=flip)
    genuine, impostor = pair_scores(emb, owner)
    rng = np.random.default_rng(seed)
    balanced_imp = rng.choice(impostor, size=min(len(genuine), len(impostor)), replace=False)
    scores = np.concatenate([genuine, balanced_imp])
    labels = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(balanced_imp), bool)])
    thr, acc = best_threshold(scores, labels)
    search = open_set_threshold(impostor, far)
    return {"threshold": thr, "search_threshold": search, "search_far": far,
            "calibration": {"identities": len(ids), "crops": len(crops), "genuine_pairs": int(len(genuine)),
                            "impostor_pairs": int(len(impostor)), "flip": flip,
                            "verification_accuracy": acc,
                            "tar_at_threshold": float(np.mean(genuine >= thr)),
                            "far_at_threshold": float(np.mean(impostor >= thr)),
                            "tar_at_search_threshold": float(np.mean(genuine >= search)),
                            "far_at_search_threshold": float(np.mean(impostor >= search))}}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="choose a model's verification and open-set thresholds on held-out identities",
                       description="Embed the aligned crops of identities the model never trained on (ROOT/<identity>/"
                                   "<crop>, as made by 'facerec prepare') and store in a copy of the checkpoint: the "
                                   "accuracy-maximising verification threshold and the open-set search threshold that "
                                   "at most --far of the different-person comparisons exceed. Never calibrate on LFW.")
    p.add_argument("crops", help="folder of held-out identity folders of aligned crops")
    add_weights_args(p, "model to calibrate")
    p.add_argument("--out", help="with --weights model.pt: the calibrated checkpoint to write (may equal --weights); "
                                 "otherwise a JSON file for the thresholds (a named model's are then entered in "
                                 "its registry entry, facerec/models/registry.py)")
    p.add_argument("--far", type=float, default=DEFAULT_FAR,
                   help=f"per-comparison false-accept rate of the search threshold (default: {DEFAULT_FAR:g})")
    p.add_argument("--seed", type=int, default=0, help="seed of the different-person pairs drawn for verification")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    to_checkpoint = bool(args.weights) and Path(args.weights).suffix.lower() == ".pt"
    if to_checkpoint and not args.out:
        raise ValueError("give --out PATH: the calibrated checkpoint to write")
    emb = load_embedder(args.weights, model=args.model, runtime="torch" if to_checkpoint else "auto")
    res = calibrate(emb, args.crops, args.far, args.seed)
    res["model"] = {"name": args.model or (None if args.weights else _default_name()), "weights": args.weights,
                    "fingerprint": emb.fingerprint()}
    if to_checkpoint:
        emb.metadata.update(threshold=res["threshold"], search_threshold=res["search_threshold"],
                            search_far=res["search_far"], calibration=res["calibration"],
                            threshold_source="held-out identities (facerec calibrate)")
        emb.save(args.out)  # type: ignore[attr-defined]  # a torch Embedder (runtime "torch" above)
    elif args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res))
    return 0


def _default_name() -> str:
    from facerec.models import default_model_name

    return default_model_name()
