"""The evaluation cache: round trip through the .npz file, invalidation, corrupt files."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pipelines.embedding_cache import ArrayCache, file_key, spec_hash

FIELDS = {"embedding": ((4,), "float32"), "detected": ((), "bool")}


def test_round_trip(tmp_path: Path):
    path = tmp_path / "c" / "emb.npz"
    c = ArrayCache(path, FIELDS)
    rng = np.random.default_rng(0)
    rows = {f"k{i}": rng.normal(size=4).astype(np.float32) for i in range(5)}
    for k, v in rows.items():
        c.put(k, embedding=v, detected=k != "k3")
    assert c.dirty == 5
    c.save()
    assert c.dirty == 0 and not list(path.parent.glob(".*tmp*"))  # temporary file renamed away
    again = ArrayCache(path, FIELDS)
    assert len(again) == 5
    for k, v in rows.items():
        np.testing.assert_array_equal(again.get(k)["embedding"], v)
        assert bool(again.get(k)["detected"]) == (k != "k3")
    with np.load(path, allow_pickle=False) as z:  # plain numpy can read it, no pickle
        assert sorted(z.files) == ["detected", "embedding", "keys"]


def test_wrong_rows_refused(tmp_path: Path):
    c = ArrayCache(None, FIELDS)
    with pytest.raises(ValueError, match="shape"):
        c.put("a", embedding=np.zeros(3), detected=True)
    with pytest.raises(ValueError, match="fields"):
        c.put("a", embedding=np.zeros(4))
    c.put("a", embedding=np.zeros(4), detected=True)
    c.save()  # no path: nothing written, no error
    assert "a" in c and not list(tmp_path.iterdir())


def test_corrupt_or_mismatched_file_is_ignored(tmp_path: Path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert len(ArrayCache(bad, FIELDS)) == 0
    other = tmp_path / "other.npz"
    np.savez(other, keys=np.array(["a"]), embedding=np.zeros((1, 8), np.float32), detected=np.ones(1, bool))
    assert len(ArrayCache(other, FIELDS)) == 0  # embedding size 8 ≠ 4: another model's file


def test_file_key_changes_with_content(tmp_path: Path):
    f = tmp_path / "img.jpg"
    f.write_bytes(b"abc")
    k1 = file_key(f)
    assert k1 == file_key(tmp_path / "." / "img.jpg")  # resolved path
    f.write_bytes(b"abcd")
    os.utime(f, ns=(1, 1))
    assert file_key(f) != k1
    assert spec_hash({"a": 1, "b": [1, 2]}) == spec_hash({"b": [1, 2], "a": 1}) != spec_hash({"a": 2})


def test_dropping_one_models_embeddings_keeps_the_others(tmp_path):
    """Training's validation drops the cache of the state it evaluated, nothing else."""
    from types import SimpleNamespace

    from pipelines.evaluate.embedding import drop_embedding_caches

    mine, other = SimpleNamespace(fingerprint=lambda: "aaaa"), "bbbb"
    for name in ("embed-aaaa-1.npz", "embed-aaaa-2.npz", f"embed-{other}-1.npz", "detect-1.npz"):
        (tmp_path / name).write_bytes(b"x")
    assert drop_embedding_caches(mine, tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["detect-1.npz", f"embed-{other}-1.npz"]
