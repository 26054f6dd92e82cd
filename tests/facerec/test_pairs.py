"""Pair-list parsers: the real LFW pairs.txt, and malformed input with line numbers."""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from facerec.metrics.pairs import Pair, lfw_image_path, parse_lfw_pairs, read_csv_pairs, read_lfw_pairs

# From the data README: sha256 of the official pairs.txt and the number of images it uses.
PAIRS_SHA256 = "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592"


def test_real_lfw_pairs(data_dir: Path, lfw_dir: Path):
    path = data_dir / "lfw_pairs.txt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PAIRS_SHA256
    pairs = read_lfw_pairs(path, lfw_dir)  # check_files: every image exists
    assert len(pairs) == 6000 and sum(p.same for p in pairs) == 3000
    per_fold = Counter((p.fold, p.same) for p in pairs)
    assert per_fold == {(f, s): 300 for f in range(10) for s in (True, False)}
    assert len({x for p in pairs for x in (p.path_a, p.path_b)}) == 7701
    # first lines of the file, read independently of the parser
    lines = path.read_text().splitlines()
    name, i, j = lines[1].split()
    assert pairs[0] == Pair(lfw_dir / name / f"{name}_{int(i):04d}.jpg", lfw_dir / name / f"{name}_{int(j):04d}.jpg", True, 0)
    n1, i1, n2, i2 = lines[301].split()
    assert pairs[300].path_a.name == f"{n1}_{int(i1):04d}.jpg" and pairs[300].path_b.parent.name == n2
    assert not pairs[300].same and pairs[600].same and pairs[600].fold == 1
    assert all(p.path_a.parent.name == p.path_b.parent.name for p in pairs if p.same)
    assert all(p.path_a.parent.name != p.path_b.parent.name for p in pairs if not p.same)


def test_single_set_header_and_trailing_blank_lines():
    pairs = parse_lfw_pairs(["2", "A 1 2", "B 3 4", "A 1 B 2", "C 1 D 1", "", "  "], "/x")
    assert [p.same for p in pairs] == [True, True, False, False] and {p.fold for p in pairs} == {0}
    assert pairs[0].path_b == lfw_image_path("/x", "A", 2) == Path("/x/A/A_0002.jpg")


@pytest.mark.parametrize("lines,match", [
    ([], r"pairs.txt:1: empty"),
    (["a b"], r":1: number of sets must be an integer"),
    (["1 2 3"], r":1: header must be"),
    (["1 0"], r":1: pairs per set must be >= 1"),
    (["1 1", "A 1 2"], r"header promises .* 2 lines, found 1"),
    (["1 1", "A 1 2", "A 1 B 2", "C 1 2"], r"found 3 \(extra from line 4\)"),
    (["1 1", "A 1 B 2", "A 1 2"], r"pairs.txt:2: expected a matched pair"),
    (["1 1", "A 1 2", "A 1 2"], r"pairs.txt:3: expected a mismatched pair"),
    (["1 1", "A 1 x", "A 1 B 2"], r"pairs.txt:2: image number must be an integer, got 'x'"),
    (["1 1", "A 1 2", "A 0 B 2"], r"pairs.txt:3: image number must be >= 1"),
    (["1 1", "", "A 1 B 2"], r"pairs.txt:2: expected a matched pair"),
])
def test_malformed_pairs(lines, match):
    with pytest.raises(ValueError, match=match):
        parse_lfw_pairs(lines, "/x", source="pairs.txt")


def test_missing_images_reported(tmp_path: Path):
    (tmp_path / "p.txt").write_text("1 1\nA 1 2\nA 1 B 2\n")
    with pytest.raises(FileNotFoundError, match="3 image"):
        read_lfw_pairs(tmp_path / "p.txt", tmp_path)
    assert len(read_lfw_pairs(tmp_path / "p.txt", tmp_path, check_files=False)) == 2


def _touch(root: Path, *names: str) -> None:
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_bytes(b"x")


def test_csv_pairs(tmp_path: Path):
    _touch(tmp_path, "a.jpg", "b.jpg", "sub/c.jpg")
    (tmp_path / "p.csv").write_text("path_a,path_b,same\na.jpg,b.jpg,1\na.jpg,sub/c.jpg,different\n"
                                    f"{tmp_path / 'b.jpg'},sub/c.jpg,TRUE\n")
    pairs = read_csv_pairs(tmp_path / "p.csv", n_folds=2)
    assert [p.same for p in pairs] == [True, False, True]
    assert [p.fold for p in pairs] == [0, 1, 0]  # i % n_folds without a fold column
    assert pairs[1].path_b == tmp_path / "sub" / "c.jpg" and pairs[2].path_a == tmp_path / "b.jpg"
    (tmp_path / "q.csv").write_text("fold,same,path_b,path_a\n3,0,a.jpg,b.jpg\n")
    (q,) = read_csv_pairs(tmp_path / "q.csv")
    assert q == Pair(tmp_path / "b.jpg", tmp_path / "a.jpg", False, 3)


@pytest.mark.parametrize("text,match", [
    ("a,b,same\nx,y,1\n", r"p.csv:1: .*missing path_a, path_b"),
    ("path_a,path_b,same\na.jpg,b.jpg,maybe\n", r"p.csv:2: 'same' must be"),
    ("path_a,path_b,same\na.jpg,b.jpg,1\na.jpg,b.jpg\n", r"p.csv:3: expected 3 fields"),
    ("path_a,path_b,same,fold\na.jpg,b.jpg,1,x\n", r"p.csv:2: fold must be an integer"),
    ("path_a,path_b,same\n", r"no pairs"),
    ("path_a,path_b,same\na.jpg,zz.jpg,1\n", r"1 image\(s\) of the pair list not found: .*zz.jpg"),
])
def test_csv_malformed(tmp_path: Path, text, match):
    _touch(tmp_path, "a.jpg", "b.jpg")
    (tmp_path / "p.csv").write_text(text)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        read_csv_pairs(tmp_path / "p.csv")
