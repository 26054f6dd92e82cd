"""``facerec evaluate {lfw,csv,bin,lfw-ident}``: the subcommands over
:mod:`.verification` and :mod:`.identification`."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from facerec.metrics.binset import load_bin
from facerec.metrics.pairs import Pair, read_csv_pairs, read_lfw_pairs
from facerec.recognizer import load_embedder
from facerec.similarity import cosine_similarity
from facerec.metrics.verification import evaluate_scores

from facerec.io.cache import ArrayCache
from ..evaluate.embedding import _embed_prefix, default_cache_dir, embed_fields, embed_settings
from ..evaluate.identification import (
    evaluate_identification,
    format_identification,
    lfw_identification_split,
)
from ..evaluate.pair_scores import (
    PairEvaluation,
    _pct,
    embed_bin,
    evaluate_pairs,
    format_verification,
    model_info,
    plot_roc,
    verification_dict,
    write_scores,
)
from .args import add_model_args, emit_json, load_recognizer


def _add_common(p: argparse.ArgumentParser, pairs_outputs: bool = True) -> None:
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation (embedding of image + mirror)")
    p.add_argument("--batch-size", type=int, default=64, help="embedding batch size (default: 64)")
    p.add_argument("--cache", metavar="DIR", help=f"embedding cache folder (default: <cache root>/embeddings, here "
                                                  f"{default_cache_dir()}; the cache root is $FACEREC_CACHE_DIR, "
                                                  "else ~/.cache/facerec)")
    p.add_argument("--no-cache", action="store_true", help="compute everything, write no cache")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    if pairs_outputs:
        p.add_argument("--scores-out", metavar="FILE", help="write 'fold label score image_a image_b' per pair (TSV)")
        p.add_argument("--plot", metavar="PNG", help="write the ROC curve (TAR vs log FAR)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="benchmark a model: LFW 10-fold, CSV pairs, .bin sets, LFW identification",
                       description="Verification accuracy (k-fold, threshold chosen on the held-out folds' "
                                   "complement), ROC AUC, EER, TAR@FAR; or identification rank-k and DIR@FAR.")
    psub = p.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)

    q = psub.add_parser("lfw", help="LFW verification with the official pairs.txt (10 folds)")
    q.add_argument("--images", required=True, metavar="DIR", help="LFW image folder (<DIR>/<Name>/<Name>_0001.jpg)")
    q.add_argument("--pairs", required=True, metavar="FILE", help="pairs.txt")
    q.add_argument("--folds", type=int, metavar="N", help="use only the first N folds (quick look; N >= 2)")
    _add_common(q)
    add_model_args(q)
    q.set_defaults(func=run_lfw)

    q = psub.add_parser("csv", help="verification on a CSV pair list (path_a,path_b,same[,fold])")
    q.add_argument("csv_file", metavar="FILE.csv")
    q.add_argument("--images", metavar="DIR", help="folder relative paths start from (default: the CSV's folder)")
    q.add_argument("--n-folds", type=int, default=10, help="folds when the CSV has no fold column (default: 10)")
    _add_common(q)
    add_model_args(q)
    q.set_defaults(func=run_csv)

    q = psub.add_parser("bin", help="verification on an insightface .bin set (aligned crops)")
    q.add_argument("bin_file", metavar="FILE.bin")
    q.add_argument("--n-folds", type=int, default=10, help="contiguous folds, as insightface (default: 10)")
    _add_common(q)
    add_model_args(q)
    q.set_defaults(func=run_bin)

    q = psub.add_parser("lfw-ident", help="LFW identification: rank-1/5 and open-set DIR@FAR")
    q.add_argument("--images", required=True, metavar="DIR", help="LFW image folder")
    _add_common(q, pairs_outputs=False)
    add_model_args(q)
    q.set_defaults(func=run_lfw_ident)


def _cache_dir(args: argparse.Namespace) -> Path | None:
    return None if args.no_cache else Path(args.cache) if args.cache else default_cache_dir()


def _finish_pairs(args: argparse.Namespace, ev: PairEvaluation, model: dict[str, Any], protocol: str,
                  root: Path | None) -> int:
    if args.scores_out:
        write_scores(args.scores_out, ev.pairs, ev.scores, root)
    if args.plot:
        plot_roc({f"{model['backbone']} ({_pct(ev.report.kfold.mean)})": ev.report.roc}, args.plot, title=protocol)
    d = verification_dict(ev, protocol, model, root)
    d["scores_out"], d["plot"] = args.scores_out, args.plot
    if args.json:
        emit_json(d)
    else:
        print(format_verification(d))
        for what, path in (("scores", args.scores_out), ("ROC plot", args.plot)):
            if path:
                print(f"{what} written to {path}")
    return 0


def run_lfw(args: argparse.Namespace) -> int:
    pairs = read_lfw_pairs(args.pairs, args.images)
    if args.folds is not None:
        if args.folds < 2:
            raise ValueError("--folds must be >= 2")
        pairs = [p for p in pairs if p.fold < args.folds]
    rec = load_recognizer(args)
    ev = evaluate_pairs(rec, pairs, flip=args.flip, batch_size=args.batch_size, cache_dir=_cache_dir(args))
    n_folds = len({p.fold for p in pairs})
    return _finish_pairs(args, ev, model_info(rec.embedder, args.weights, args.flip, rec.frontalize), f"LFW {n_folds}-fold verification",
                         Path(args.images))


def run_csv(args: argparse.Namespace) -> int:
    pairs = read_csv_pairs(args.csv_file, args.images, n_folds=args.n_folds)
    rec = load_recognizer(args)
    ev = evaluate_pairs(rec, pairs, flip=args.flip, batch_size=args.batch_size, cache_dir=_cache_dir(args))
    root = Path(args.images) if args.images else Path(args.csv_file).parent
    return _finish_pairs(args, ev, model_info(rec.embedder, args.weights, args.flip, rec.frontalize),
                         f"{Path(args.csv_file).name} k-fold verification", root)


def run_bin(args: argparse.Namespace) -> int:
    if getattr(args, "frontalize", False):
        raise ValueError("--frontalize needs detected landmarks; .bin sets hold aligned crops without them")
    t0 = time.perf_counter()
    binset = load_bin(args.bin_file)
    embedder = load_embedder(args.weights, model=args.model, runtime=args.runtime, device=args.device,
                             precision=args.precision)
    cache_dir = _cache_dir(args)
    cache = ArrayCache(cache_dir, _embed_prefix(embedder).rstrip("-"), embed_settings(embedder, args.flip, "bin"),
                       embed_fields(embedder))
    emb = embed_bin(embedder, binset, flip=args.flip, batch_size=args.batch_size, cache=cache)
    scores = cosine_similarity(emb[0::2], emb[1::2]).astype(np.float64)
    folds = binset.folds(args.n_folds)
    report = evaluate_scores(scores, binset.issame, folds)
    name = Path(args.bin_file).name
    pairs = [Pair(Path(f"{name}#{2 * i}"), Path(f"{name}#{2 * i + 1}"), bool(s), int(f))
             for i, (s, f) in enumerate(zip(binset.issame, folds))]
    ev = PairEvaluation(pairs, scores, report, len(binset.images), [], time.perf_counter() - t0)
    return _finish_pairs(args, ev, model_info(embedder, args.weights, args.flip), f"{name} {args.n_folds}-fold verification",
                         None)


def run_lfw_ident(args: argparse.Namespace) -> int:
    split = lfw_identification_split(args.images)
    rec = load_recognizer(args)
    rep = evaluate_identification(rec, split, flip=args.flip, batch_size=args.batch_size, cache_dir=_cache_dir(args))
    d = {"protocol": "LFW identification", "model": model_info(rec.embedder, args.weights, args.flip, rec.frontalize),
         **rep.to_dict(Path(args.images))}
    if args.json:
        emit_json(d)
    else:
        print(format_identification(d))
    return 0
