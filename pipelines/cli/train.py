"""``facerec train``: the command line of :mod:`pipelines.train` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..extras import MissingExtra
from ..train import CONFIG_DIR, config_path
from ..training.config import load_config
from ..training.plot import plot_training_curves
from ..training.trainer import resolved_config_from_run, train

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an embedding model (backbone + margin loss)",
                       description="Train a face embedding model from a TOML config. Writes into --out: "
                                   "config.toml/.json, metrics.csv, curves.png, last.pt/best.pt (training state for "
                                   "--resume) and last_embedder.pt/best_embedder.pt (load with "
                                   "'facerec verify --weights'). Never train on LFW: it is the test set.")
    presets = ", ".join(sorted(f.stem for f in CONFIG_DIR.glob("*.toml")))
    p.add_argument("--config", metavar="FILE", help="TOML preset, e.g. pipelines/configs/celeba.toml, or a "
                                                    f"preset name ({presets}); with --resume, defaults "
                                                    "to the run's saved config")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set data.root=/data/crops --set train.epochs=20 "
                        "(repeatable; values are TOML: numbers, true/false, \"strings\", [lists])")
    p.add_argument("--out", default="runs/train", help="output folder (default: runs/train)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.config:
        cfg = load_config(config_path(args.config), args.overrides)
    elif args.resume:
        from ..training.config import (
            apply_overrides,
            config_from_dict,
            config_to_dict,
            expand_paths,
        )

        base = config_to_dict(resolved_config_from_run(args.out))
        cfg = config_from_dict(expand_paths(apply_overrides(base, args.overrides)))
    else:
        raise ValueError("--config is required (or --resume to continue a run)")
    res = train(cfg, args.out, resume=args.resume)
    metrics_csv = Path(res.out_dir) / "metrics.csv"
    if metrics_csv.is_file():
        try:
            plot_training_curves(metrics_csv, Path(res.out_dir) / "curves.png")
        except MissingExtra as exc:  # the run itself is complete; only its picture is missing
            log.warning("curves.png not written: %s", exc)
    print(json.dumps({"status": res.status, "step": res.step, "epoch": res.epoch, "best": res.best,
                      "epoch_losses": [round(v, 4) for v in res.epoch_losses], "out": str(res.out_dir)}))
    return 0
