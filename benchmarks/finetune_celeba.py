"""Fine-tuning SFace on CelebA: the data steps of the adaptation measurement (RESULTS.md).

Two subcommands, run before and after ``facerec train --config finetune`` (commands in RESULTS):

``overlap`` — which CelebA training identities are LFW people (LFW is the test set: they must
not be trained on). CelebA's identities are numbers, not names, so they are found by face:
each identity's mean SFace embedding (its aligned crops, through the same teacher cache the
training uses, so the work is not repeated) against each LFW person's mean embedding (LFW's
photos through facerec's pipeline, from the evaluation cache). An identity matches when its
best cosine reaches ``--threshold`` (default: SFace's search threshold, FAR 1e-4 per pair of
single photos; means of several photos are far more separable). Writes the matches (with the
LFW name and cosine) as JSON, and ``--train-root``: the training folder without them (symlinks).

``ident`` — closed-set rank-1/5 over the held-out identities: each one's first photo enrolled,
the others searched (``facerec evaluate lfw-ident`` needs single-photo people for its open set;
the held-out split has none).

``pairs`` — a 10-fold pair list (CSV for ``facerec evaluate csv``) over the held-out
identities' photos: half same-identity pairs (all of them when there are fewer than asked),
half different (or ``--different`` of them, for TAR at a low FAR), seeded.

    python -m benchmarks.finetune_celeba overlap --crops CROPS/labelled --unlabelled CROPS/unlabelled \\
        --lfw $FACEREC_DATA_DIR/lfw --out benchmarks/results/celeba_lfw_overlap.json --train-root TRAIN
    python -m benchmarks.finetune_celeba pairs --images SPLITS/calibration --out HELDOUT_PAIRS.csv
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import random
from pathlib import Path

import numpy as np

log = logging.getLogger("benchmarks.finetune_celeba")


def overlap(args: argparse.Namespace) -> None:
    from facerec.models import MODELS
    from facerec.recognizer import FaceRecognizer
    from pipelines.evaluate.embedding import default_cache_dir
    from pipelines.evaluate.embedding import embed_image_files
    from pipelines.photos import identity_folders
    from pipelines.training.config import DataConfig, ModelConfig
    from pipelines.training.data import load_crop, scan_identities
    from pipelines.training.pretrained import class_means, resolve_init
    from pipelines.training.teacher import build_teacher
    from pipelines.training.teacher_cache import default_teacher_cache, teacher_embeddings

    ids = scan_identities(args.crops, 1)
    files = [f for i in ids for f in i.files]
    labels = np.array([k for k, i in enumerate(ids) for _ in i.files])
    data_cfg = DataConfig(root=str(args.crops))
    m = ModelConfig(init=args.model)
    teacher = build_teacher(resolve_init(m, data_cfg.template), data_cfg.template)
    cache = default_teacher_cache()
    emb = teacher_embeddings(teacher, len(files), lambda i: load_crop(files[i], data_cfg), cache,
                             desc="CelebA training crops")
    if args.unlabelled:  # embedded now so that the training finds them cached
        from pipelines.training.data import scan_unlabeled

        un = scan_unlabeled([args.unlabelled])
        teacher_embeddings(teacher, len(un), lambda i: load_crop(un[i], data_cfg), cache, desc="unlabelled crops")
    celeba = class_means(emb, labels, len(ids)).numpy()  # (identities, D) unit means

    people = identity_folders(args.lfw)
    lfw_files = [f for _, fs in people for f in fs]
    lfw_labels = np.array([k for k, (_, fs) in enumerate(people) for _ in fs])
    rec = FaceRecognizer.load(model=args.model)
    lfw_emb = embed_image_files(rec, lfw_files, cache_dir=default_cache_dir()).embeddings
    lfw = class_means(lfw_emb, lfw_labels, len(people)).numpy()

    # The null: how close a *different* person's mean gets — each CelebA identity's best cosine
    # to the other CelebA identities (all different people), the scale for choosing --threshold.
    own = celeba @ celeba.T
    np.fill_diagonal(own, -1.0)
    null = np.quantile(own.max(axis=1), [0.5, 0.9, 0.99])
    sims = celeba @ lfw.T  # (identities, LFW people)
    best, arg = sims.max(axis=1), sims.argmax(axis=1)
    threshold = args.threshold if args.threshold is not None else MODELS[args.model].search_threshold
    hits = np.flatnonzero(best >= threshold)
    matches = sorted(({"celeba": ids[i].name, "photos": len(ids[i].files), "lfw": people[arg[i]][0].name,
                       "lfw_photos": len(people[arg[i]][1]), "cosine": round(float(best[i]), 4)} for i in hits),
                     key=lambda r: -r["cosine"])
    report = {"model": args.model, "threshold": threshold, "celeba_identities": len(ids), "lfw_people": len(people),
              "matches": len(matches),
              "null_best_cosine_quantiles_50_90_99": [round(float(x), 4) for x in null], "next_best_cosines": [round(float(x), 4) for x in np.sort(best[best < threshold])[-5:]],
              "pairs": matches}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    log.info("%d of %d CelebA identities match an LFW person (mean-embedding cosine >= %.3f); written to %s",
             len(matches), len(ids), threshold, args.out)
    if args.train_root:
        drop = {r["celeba"] for r in matches}
        args.train_root.mkdir(parents=True, exist_ok=True)
        for i in ids:
            link = args.train_root / i.name
            if i.name not in drop and not link.exists():
                link.symlink_to(Path(i.files[0]).parent.resolve(), target_is_directory=True)
        log.info("training root %s: %d identities", args.train_root, len(ids) - len(drop))


def pairs(args: argparse.Namespace) -> None:
    from pipelines.photos import identity_folders

    people = [(d.name, fs) for d, fs in identity_folders(args.images) if fs]
    rng = random.Random(args.seed)
    multi = [fs for _, fs in people if len(fs) >= 2]
    all_same = [(fs[a], fs[b]) for fs in multi for a in range(len(fs)) for b in range(a + 1, len(fs))]
    half = min(args.pairs // 2, len(all_same))  # few photos per identity: every same pair, if need be
    same = set(rng.sample(all_same, half))
    n_diff = args.different or half
    diff = set()
    while len(diff) < n_diff:
        (_, fa), (_, fb) = rng.sample(people, 2)
        diff.add((rng.choice(fa), rng.choice(fb)))
    rows = [(a, b, 1) for a, b in sorted(same)] + [(a, b, 0) for a, b in sorted(diff)]
    rng.shuffle(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path_a", "path_b", "same", "fold"])
        for k, (a, b, s) in enumerate(rows):
            w.writerow([Path(a).relative_to(args.images), Path(b).relative_to(args.images), s, k % 10])
    log.info("%d pairs (%d same) over %d identities written to %s", len(rows), len(same), len(people), args.out)


def ident(args: argparse.Namespace) -> None:
    """Closed-set rank-1/5: each identity's first photo enrolled, its other photos searched
    (exact cosine search over the 1,000 enrolled), through facerec's pipeline and its cache."""
    from facerec.recognizer import FaceRecognizer
    from facerec.metrics.verification import rank_k_accuracy
    from pipelines.evaluate.embedding import default_cache_dir
    from pipelines.evaluate.embedding import embed_image_files
    from pipelines.evaluate.identification import search_gallery
    from pipelines.photos import identity_folders

    people = [(d.name, fs) for d, fs in identity_folders(args.images) if len(fs) >= 2]
    rec = FaceRecognizer.load(args.weights) if args.weights else FaceRecognizer.load(model=args.model)
    gallery = [fs[0] for _, fs in people]
    probes = [f for _, fs in people for f in fs[1:]]
    probe_ids = np.array([k for k, (_, fs) in enumerate(people) for _ in fs[1:]])
    emb = embed_image_files(rec, gallery + probes, cache_dir=default_cache_dir(), progress=False)
    at = emb.index()
    g = emb.embeddings[[at[p] for p in gallery]]
    q = emb.embeddings[[at[p] for p in probes]]
    _, idx = search_gallery(g, q, k=5)
    ranks = rank_k_accuracy(idx, probe_ids, (1, 5))
    out = {"images": str(args.images), "model": args.weights or args.model, "enrolled": len(gallery),
           "probes": len(probes), "rank1": ranks[1], "rank5": ranks[5]}
    print(json.dumps(out))


def table(args: argparse.Namespace) -> None:
    """One markdown row per model from the JSON reports that the commands in RESULTS wrote
    (``<dir>/<name>.{heldout_acc,heldout_far,heldout_ident,lfw,lfw_ident}.json``)."""

    def load(name: str, part: str) -> dict:
        f = args.dir / f"{name}.{part}.json"
        return json.loads(f.read_text()) if f.is_file() and f.stat().st_size else {}

    def tar(d: dict, far: float) -> str:
        hit = [t["tar"] for t in d.get("tar_at_far", []) if abs(t["target_far"] - far) < far / 10]
        return f"{100 * hit[0]:.2f} %" if hit else "–"

    def acc(d: dict) -> str:
        a = d.get("accuracy")
        return f"{100 * a['mean']:.2f} % ± {100 * a['std']:.2f}" if a else "–"

    print("| model | held-out CelebA pairs (10-fold) | held-out TAR @ FAR 1e-3 | held-out rank-1 / rank-5 "
          "| LFW 10-fold | LFW TAR @ FAR 1e-3 | lfw-ident rank-1 | DIR @ FAR 1 % |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.names:
        ha, hf, hi, lfw, li = (load(name, p) for p in ("heldout_acc", "heldout_far", "heldout_ident", "lfw",
                                                        "lfw_ident"))
        rank = f"{100 * hi['rank1']:.2f} % / {100 * hi['rank5']:.2f} %" if hi else "–"
        ident = li.get("rank", {}) if li else {}
        r1 = ident.get("1") if isinstance(ident, dict) else None
        dirs = [d["dir"] for d in li.get("dir_at_far", []) if abs(d["target_far"] - 0.01) < 1e-3] if li else []
        r1_text = "–" if r1 is None else f"{100 * r1:.2f} %"
        dir_text = f"{100 * dirs[0]:.2f} %" if dirs else "–"
        print(f"| {name} | {acc(ha)} | {tar(hf, 1e-3)} | {rank} | {acc(lfw)} | {tar(lfw, 1e-3)} | {r1_text} | {dir_text} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("overlap", help="CelebA training identities that are LFW people")
    o.add_argument("--crops", type=Path, required=True, help="aligned crops of the training identities")
    o.add_argument("--unlabelled", type=Path, help="unlabelled crops to embed into the teacher cache too")
    o.add_argument("--lfw", type=Path, required=True, help="LFW image folder")
    o.add_argument("--model", default="sface")
    o.add_argument("--threshold", type=float, help="mean-embedding cosine (default: the model's search threshold)")
    o.add_argument("--out", type=Path, required=True, help="JSON report")
    o.add_argument("--train-root", type=Path, help="write the training folder without the matches (symlinks)")
    q = sub.add_parser("pairs", help="a 10-fold pair list over held-out identities")
    q.add_argument("--images", type=Path, required=True, help="folder of identity folders of photos")
    q.add_argument("--pairs", type=int, default=6000)
    q.add_argument("--different", type=int, default=0,
                   help="different-identity pairs (default: as many as same pairs; more for TAR at a low FAR)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("ident", help="closed-set rank-1/5 over held-out identities (first photo enrolled)")
    r.add_argument("--images", type=Path, required=True, help="folder of identity folders of photos")
    r.add_argument("--model", default="sface")
    r.add_argument("--weights", help="model file instead of a named one")
    t = sub.add_parser("table", help="the comparison table from the evaluation JSON files")
    t.add_argument("--dir", type=Path, required=True, help="folder of <name>.<part>.json reports")
    t.add_argument("names", nargs="+", help="model names, one row each")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    {"overlap": overlap, "pairs": pairs, "ident": ident, "table": table}[args.cmd](args)


if __name__ == "__main__":
    main()
