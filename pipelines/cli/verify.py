"""``facerec verify``: the command line of :mod:`pipelines.verify` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse

from ..verify import verify_pair
from .args import add_model_args, emit_json, load_recognizer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="are two photos the same person?",
                       description="Compare the largest face in each image: cosine similarity of their "
                                   "embeddings, 'same' when it reaches the model's threshold.")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.add_argument("--threshold", type=float, help="decision threshold on the cosine score (default: the model's)")
    p.add_argument("--json", action="store_true", help='print {"same": bool, "score": float, "threshold": float, '
                                                       '"quality": {"a": {...}, "b": {...}}}')
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    res = verify_pair(load_recognizer(args), args.image_a, args.image_b, args.threshold)
    if args.json:
        emit_json(res.to_dict())
    else:
        verdict = "SAME person" if res.same else "DIFFERENT people"
        print(f"{verdict}: score {res.score:.4f} (threshold {res.threshold:.4f})")
        if res.faces is not None:
            for path, face in zip((args.image_a, args.image_b), res.faces):
                print(f"  {path}: {face.quality.describe()}")
    return 0
