"""Split the CelebA photos we can reach into identity-disjoint folders (symlinks, no copies).

Inputs: ``$FACEREC_DATA_DIR/celeba`` (folders named by CelebA identity number) and, optionally,
the tree written by ``../shared/tools/extract_celeba_union.sh`` (``celeba_<id>/NNNNNN.jpg``).
Photos are deduplicated by CelebA file number (the shared copy wins). Then:

* ``calibration/`` — ``--calibration`` identities (default 1,000) drawn with ``--seed`` from those
  with 2–4 photos: the held-out identities every model's thresholds are chosen on;
* ``labelled/`` — the identities with at least ``--min-labelled`` photos (training classes);
* ``unlabelled/`` — everything else (single photos and the undrawn 2–4-photo identities).

``--exclude`` drops identities listed in a file (one CelebA number per line; e.g. those that
match an LFW person), from every split. Writes ``splits.json`` with the counts.

    python -m benchmarks.celeba_splits --union CELEBA_UNION --out SPLITS
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from pipelines.paths import data_dir

log = logging.getLogger(__name__)


def _identity_number(name: str) -> int | None:
    m = re.fullmatch(r"(?:celeba_)?0*(\d+)", name)
    return int(m.group(1)) if m else None


def collect(roots: list[Path]) -> dict[int, dict[str, Path]]:
    """identity number → {file name: path}; the first root holding a file number wins."""
    seen: set[str] = set()
    ids: dict[int, dict[str, Path]] = {}
    for root in roots:
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            ident = _identity_number(d.name)
            if ident is None:
                continue
            for f in sorted(d.iterdir()):
                if f.suffix.lower() in (".jpg", ".jpeg", ".png") and f.name not in seen:
                    seen.add(f.name)
                    ids.setdefault(ident, {})[f.name] = f.resolve()
    return ids


def split(ids: dict[int, dict[str, Path]], n_calibration: int, min_labelled: int, seed: int,
          exclude: set[int]) -> dict[str, list[int]]:
    """Identity numbers of each split (sorted)."""
    keep = {k: v for k, v in ids.items() if k not in exclude}
    small = sorted(k for k, v in keep.items() if 2 <= len(v) <= 4)
    if n_calibration > len(small):
        raise ValueError(f"only {len(small)} identities have 2-4 photos; asked for {n_calibration}")
    rng = np.random.default_rng(seed)
    calib = sorted(int(k) for k in rng.choice(small, size=n_calibration, replace=False))
    labelled = sorted(k for k, v in keep.items() if len(v) >= min_labelled and k not in set(calib))
    rest = sorted(set(keep) - set(calib) - set(labelled))
    return {"calibration": calib, "labelled": labelled, "unlabelled": rest}


def write(ids: dict[int, dict[str, Path]], splits: dict[str, list[int]], out: Path) -> dict[str, dict[str, int]]:
    """Symlink each split's photos under ``out/<split>/<id>/``; returns the counts."""
    counts = {}
    for name, members in splits.items():
        n = 0
        for ident in members:
            d = out / name / f"{ident:05d}"
            d.mkdir(parents=True, exist_ok=True)
            for fname, src in ids[ident].items():
                link = d / fname
                if not link.exists():
                    os.symlink(src, link)
                n += 1
        counts[name] = {"identities": len(members), "photos": n}
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--union", type=Path, help="tree from extract_celeba_union.sh (optional)")
    p.add_argument("--out", type=Path, required=True, help="output folder (gets calibration/, labelled/, unlabelled/)")
    p.add_argument("--calibration", type=int, default=1000, help="held-out identities (default: 1000)")
    p.add_argument("--min-labelled", type=int, default=5, help="photos for a training class (default: 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude", type=Path, help="file of CelebA identity numbers to leave out (e.g. LFW matches)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    roots = [data_dir() / "celeba"] + ([args.union] if args.union else [])
    ids = collect(roots)
    exclude = {int(t) for t in args.exclude.read_text().split()} if args.exclude else set()
    splits = split(ids, args.calibration, args.min_labelled, args.seed, exclude)
    counts = write(ids, splits, args.out)
    report = {"roots": [str(r) for r in roots], "seed": args.seed, "excluded": sorted(exclude), "counts": counts}
    (args.out / "splits.json").write_text(json.dumps(report, indent=2))
    for name, c in counts.items():
        log.info("%-12s %5d identities %6d photos", name, c["identities"], c["photos"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
