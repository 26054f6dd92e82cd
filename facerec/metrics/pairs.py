"""Verification pair lists: LFW's ``pairs.txt`` and a generic CSV.

``pairs.txt`` (Huang et al. 2007): a header ``"<sets> <pairs per set>"`` (or one number for a
single set, as in ``pairsDevTrain.txt``), then for each set ``n`` matched lines
``name i j`` followed by ``n`` mismatched lines ``name1 i name2 j``; image ``i`` of ``name`` is
``<images>/<name>/<name>_<i:04d>.jpg``. Folds are numbered from 0 in file order.

CSV: a header naming the columns ``path_a``, ``path_b``, ``same`` and optionally ``fold``;
relative paths are resolved against ``images_dir`` (default: the CSV's folder). Without a
``fold`` column pair ``i`` goes to fold ``i % n_folds``.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable, NamedTuple

_TRUE = {"1", "true", "yes", "same", "match", "y", "t"}
_FALSE = {"0", "false", "no", "different", "mismatch", "n", "f"}


class Pair(NamedTuple):
    """Two image paths, whether they show the same person, and the pair's fold."""

    path_a: Path
    path_b: Path
    same: bool
    fold: int


def lfw_image_path(images_dir: str | os.PathLike, name: str, number: int) -> Path:
    """``<images_dir>/<name>/<name>_<number:04d>.jpg``."""
    return Path(images_dir) / name / f"{name}_{number:04d}.jpg"


def _positive_int(tok: str, what: str, where: str) -> int:
    try:
        v = int(tok)
    except ValueError:
        raise ValueError(f"{where}: {what} must be an integer, got {tok!r}") from None
    if v < 1:
        raise ValueError(f"{where}: {what} must be >= 1, got {v}")
    return v


def parse_lfw_pairs(lines: Iterable[str], images_dir: str | os.PathLike, source: str = "pairs.txt") -> list[Pair]:
    """Parse the lines of an LFW ``pairs.txt``; malformed input raises ``ValueError`` naming
    ``source`` and the line number."""
    rows = [(i + 1, ln.split()) for i, ln in enumerate(lines)]
    while rows and not rows[-1][1]:  # trailing blank lines
        rows.pop()
    if not rows or not rows[0][1]:
        raise ValueError(f"{source}:1: empty file or missing header '<sets> <pairs per set>'")
    header = rows[0][1]
    if len(header) == 1:
        n_sets, n_per = 1, _positive_int(header[0], "pairs per set", f"{source}:1")
    elif len(header) == 2:
        n_sets = _positive_int(header[0], "number of sets", f"{source}:1")
        n_per = _positive_int(header[1], "pairs per set", f"{source}:1")
    else:
        raise ValueError(f"{source}:1: header must be '<sets> <pairs per set>', got {' '.join(header)!r}")
    expected = 1 + 2 * n_sets * n_per
    if len(rows) != expected:
        raise ValueError(f"{source}: header promises {n_sets} x (2 x {n_per}) pairs = {expected - 1} lines, "
                         f"found {len(rows) - 1}" + (f" (extra from line {expected + 1})" if len(rows) > expected else ""))
    pairs = []
    for k, (lineno, tok) in enumerate(rows[1:]):
        fold, matched = k // (2 * n_per), (k % (2 * n_per)) < n_per
        where = f"{source}:{lineno}"
        if matched:
            if len(tok) != 3:
                raise ValueError(f"{where}: expected a matched pair 'name i j' ({len(tok)} fields found)")
            a = lfw_image_path(images_dir, tok[0], _positive_int(tok[1], "image number", where))
            b = lfw_image_path(images_dir, tok[0], _positive_int(tok[2], "image number", where))
        else:
            if len(tok) != 4:
                raise ValueError(f"{where}: expected a mismatched pair 'name1 i name2 j' ({len(tok)} fields found)")
            a = lfw_image_path(images_dir, tok[0], _positive_int(tok[1], "image number", where))
            b = lfw_image_path(images_dir, tok[2], _positive_int(tok[3], "image number", where))
        pairs.append(Pair(a, b, matched, fold))
    return pairs


def check_files_exist(pairs: Iterable[Pair]) -> None:
    """``FileNotFoundError`` naming the first missing images (and how many are missing)."""
    missing = sorted({str(p) for pair in pairs for p in (pair.path_a, pair.path_b) if not Path(p).is_file()})
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise FileNotFoundError(f"{len(missing)} image(s) of the pair list not found: {shown}")


def read_lfw_pairs(pairs_file: str | os.PathLike, images_dir: str | os.PathLike, check_files: bool = True) -> list[Pair]:
    """Read an LFW ``pairs.txt``; with ``check_files`` every image must exist."""
    with open(pairs_file, encoding="utf-8") as f:
        pairs = parse_lfw_pairs(f.read().splitlines(), images_dir, source=str(pairs_file))
    if check_files:
        check_files_exist(pairs)
    return pairs


def _parse_bool(tok: str, where: str) -> bool:
    t = tok.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError(f"{where}: 'same' must be one of 1/0, true/false, same/different; got {tok!r}")


def read_csv_pairs(csv_file: str | os.PathLike, images_dir: str | os.PathLike | None = None, n_folds: int = 10,
                   check_files: bool = True) -> list[Pair]:
    """Read a CSV pair list (see module docstring)."""
    if n_folds < 2:
        raise ValueError("n_folds must be >= 2")
    root = Path(images_dir) if images_dir is not None else Path(csv_file).parent
    with open(csv_file, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        missing = {"path_a", "path_b", "same"} - set(cols)
        if missing:
            raise ValueError(f"{csv_file}:1: header must name path_a, path_b, same (and optionally fold); "
                             f"missing {', '.join(sorted(missing))}")
        reader.fieldnames = cols
        pairs = []
        for i, row in enumerate(reader):
            where = f"{csv_file}:{reader.line_num}"
            if None in row or any(row.get(c) is None for c in cols):
                raise ValueError(f"{where}: expected {len(cols)} fields")
            a, b = row["path_a"].strip(), row["path_b"].strip()
            if not a or not b:
                raise ValueError(f"{where}: empty image path")
            if "fold" in row:
                try:
                    fold = int(row["fold"])
                except ValueError:
                    raise ValueError(f"{where}: fold must be an integer, got {row['fold']!r}") from None
                if fold < 0:
                    raise ValueError(f"{where}: fold must be >= 0, got {fold}")
            else:
                fold = i % n_folds
            pairs.append(Pair(root / a, root / b, _parse_bool(row["same"], where), fold))
    if not pairs:
        raise ValueError(f"{csv_file}: no pairs")
    if check_files:
        check_files_exist(pairs)
    return pairs
