"""``facerec calibrate``: the command line of :mod:`pipelines.calibrate` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from facerec.io.atomic import atomic_write_text
from facerec.models import choose_model
from facerec.recognizer import load_embedder

from ..calibrate import DEFAULT_FAR, calibrate
from .args import add_weights_args


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
    name = None if args.weights else choose_model(args.model)
    emb = load_embedder(args.weights, model=args.model if args.weights else name,  # both given: refused there
                        runtime="torch" if to_checkpoint else "auto")
    res = calibrate(emb, args.crops, args.far, args.seed)
    res["model"] = {"name": name, "weights": args.weights, "fingerprint": emb.fingerprint()}
    if to_checkpoint:
        emb.metadata.update(threshold=res["threshold"], search_threshold=res["search_threshold"],
                            search_far=res["search_far"], calibration=res["calibration"],
                            threshold_source="held-out identities (facerec calibrate)")
        emb.save(args.out)  # type: ignore[attr-defined]  # a torch Embedder (runtime "torch" above)
    elif args.out:
        atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")
    print(json.dumps(res))
    return 0
