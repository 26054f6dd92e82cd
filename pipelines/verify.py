"""``facerec verify A B``: are two photos the same person?"""
from __future__ import annotations

import argparse

from facerec import Face, FaceRecognizer, VerificationResult, cosine_similarity
from facerec.image import ImageInput

from .common import add_model_args, emit_json, load_recognizer


def verify_pair(recognizer: FaceRecognizer, a: str, b: str, threshold: float | None = None) -> VerificationResult:
    """Compare the largest face of each image."""
    return recognizer.verify(a, b, threshold=threshold)


def verify_pair_faces(recognizer: FaceRecognizer, a: ImageInput, b: ImageInput,
                      threshold: float | None = None) -> tuple[VerificationResult, Face, Face]:
    """:func:`verify_pair`, also handing back the two faces it compared (the service shows
    their crops without detecting and embedding again). The rule of
    :meth:`FaceRecognizer.verify`: the largest faces' cosine score, ``same`` at score ≥
    threshold (default: the model's, checked before any detection). To be replaced by
    ``verify``'s own faces hand-back once the recognizer has one."""
    thr = recognizer.threshold if threshold is None else float(threshold)
    fa, fb = recognizer.face(a, "largest"), recognizer.face(b, "largest")
    score = float(cosine_similarity(fa.embedding, fb.embedding))
    return VerificationResult(same=score >= thr, score=score, threshold=thr), fa, fb


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="are two photos the same person?",
                       description="Compare the largest face in each image: cosine similarity of their "
                                   "embeddings, 'same' when it reaches the model's threshold.")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.add_argument("--threshold", type=float, help="decision threshold on the cosine score (default: the model's)")
    p.add_argument("--json", action="store_true", help='print {"same": bool, "score": float, "threshold": float}')
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    res = verify_pair(load_recognizer(args), args.image_a, args.image_b, args.threshold)
    if args.json:
        emit_json(res.to_dict())
    else:
        verdict = "SAME person" if res.same else "DIFFERENT people"
        print(f"{verdict}: score {res.score:.4f} (threshold {res.threshold:.4f})")
    return 0
