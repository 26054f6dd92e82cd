"""facerec's one cache (:mod:`facerec.io.cache`): entries round-trip exactly, keys are content,
settings and format version name the file, and concurrent writer processes all land."""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facerec.io import cache as cache_mod
from facerec.io.cache import ArrayCache, content_key, file_key, remove_caches, settings_hash

FIELDS = {"embedding": ((4,), "float32"), "detected": ((), "bool")}
RAGGED = {"boxes": ((-1, 4), "float32"), "emb": ((-1, 3), "float32"), "ok": ((), "bool")}
REPO = Path(__file__).resolve().parents[2]


def test_round_trip_through_the_file(tmp_path: Path):
    c = ArrayCache(tmp_path, "emb", {"model": "a"}, FIELDS)
    rng = np.random.default_rng(0)
    rows = {f"k{i}": rng.normal(size=4).astype(np.float32) for i in range(5)}
    for k, v in rows.items():
        c.put(k, embedding=v, detected=k != "k3")
    assert c.dirty == 5 and len(c) == 5
    c.close()
    again = ArrayCache(tmp_path, "emb", {"model": "a"}, FIELDS)
    assert again.on_disk and len(again) == 5 and again.dirty == 0
    for k, v in rows.items():
        np.testing.assert_array_equal(again.get(k)["embedding"], v)  # bit for bit
        assert bool(again.get(k)["detected"]) == (k != "k3")
    # Plain sqlite3 reads it: the format version and the settings it was written for.
    with sqlite3.connect(again.path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == cache_mod.CACHE_FORMAT
        assert '"model": "a"' in con.execute("SELECT v FROM meta").fetchone()[0]
        n, blob = con.execute("SELECT n, data FROM entries WHERE key = 'k1'").fetchone()
    assert blob == rows["k1"].tobytes() + b"\x01"  # fields in declared order, raw bytes


def test_ragged_entries_and_wrong_rows(tmp_path: Path):
    c = ArrayCache(tmp_path, "faces", {}, RAGGED)
    c.put("two", boxes=np.arange(8).reshape(2, 4), emb=np.ones((2, 3)), ok=True)
    c.put("none", boxes=np.zeros((0, 4)), emb=np.zeros((0, 3)), ok=False)
    with pytest.raises(ValueError, match="shape"):
        c.put("bad", boxes=np.zeros((2, 4)), emb=np.zeros((3, 3)), ok=True)  # 2 boxes, 3 embeddings
    with pytest.raises(ValueError, match="fields"):
        c.put("bad", boxes=np.zeros((2, 4)))
    c.close()
    again = ArrayCache(tmp_path, "faces", {}, RAGGED)
    np.testing.assert_array_equal(again.get("two")["boxes"], np.arange(8, dtype=np.float32).reshape(2, 4))
    assert again.get("none")["boxes"].shape == (0, 4) and again.get("none")["emb"].shape == (0, 3)
    assert again.get("bad") is None and "bad" not in again and "two" in again


def test_in_memory_without_folder_or_settings(tmp_path: Path):
    for c in (ArrayCache(None, "x", {}, FIELDS), ArrayCache(tmp_path, "x", None, FIELDS)):
        c.put("a", embedding=np.zeros(4), detected=True)
        c.close()
        assert not c.on_disk and "a" in c and len(c) == 1
    assert not list(tmp_path.iterdir())


def test_every_setting_names_another_file_and_content_is_the_key(tmp_path: Path):
    """A changed model, detector, input spec or precision misses; the same bytes under another
    path hit (the key is the content, not the name)."""
    base = {"fingerprint": "f1", "detector": {"name": "yunet", "max_side": 1280}, "preprocessing":
            {"template": "arcface_112", "mean": [0.5] * 3, "std": [0.5] * 3}, "precision": "fp32"}
    a, b = tmp_path / "a.jpg", tmp_path / "sub" / "b.jpg"
    b.parent.mkdir()
    a.write_bytes(b"some image bytes")
    b.write_bytes(a.read_bytes())
    assert file_key(a) == file_key(b) == hashlib.sha256(b"some image bytes").hexdigest()
    with ArrayCache(tmp_path / "c", "emb", base, FIELDS) as c:
        c.put(file_key(a), embedding=np.ones(4), detected=True)
    assert file_key(b) in ArrayCache(tmp_path / "c", "emb", dict(reversed(base.items())), FIELDS)  # order-free
    changed = [{**base, "fingerprint": "f2"}, {**base, "detector": {"name": "yunet", "max_side": 640}},
               {**base, "preprocessing": {**base["preprocessing"], "mean": [0.0] * 3}}, {**base, "precision": "bf16"}]
    for settings in changed:
        assert file_key(b) not in ArrayCache(tmp_path / "c", "emb", settings, FIELDS)
    # Another field shape (another embedding size) is another file too.
    assert file_key(b) not in ArrayCache(tmp_path / "c", "emb", base, {**FIELDS, "embedding": ((8,), "float32")})
    b.write_bytes(b"edited")
    assert file_key(b) not in ArrayCache(tmp_path / "c", "emb", base, FIELDS)
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1}) != settings_hash({"a": 2})


def test_content_key_of_arrays_includes_shape_and_dtype():
    x = np.arange(12, dtype=np.uint8)
    assert content_key(x) == content_key(x.copy()) != content_key(x.reshape(3, 4)) != content_key(x.astype(np.int8))
    assert content_key(x[::2]) == content_key(np.ascontiguousarray(x[::2]))


def _version(path: Path, v: int) -> None:
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA user_version = {v}")


def test_a_newer_format_is_refused_and_left_alone(tmp_path: Path, caplog):
    with ArrayCache(tmp_path, "emb", {}, FIELDS) as c:
        c.put("a", embedding=np.ones(4), detected=True)
        path = c.path
    _version(path, cache_mod.CACHE_FORMAT + 1)
    before = path.read_bytes()
    with caplog.at_level(logging.WARNING, "facerec.cache"):
        newer = ArrayCache(tmp_path, "emb", {}, FIELDS)
    assert f"newer facerec (cache format {cache_mod.CACHE_FORMAT + 1}" in caplog.text
    assert not newer.on_disk and "a" not in newer
    newer.put("b", embedding=np.zeros(4), detected=False)  # still works, in memory
    newer.close()
    assert path.read_bytes() == before


def test_an_older_format_is_rebuilt(tmp_path: Path, caplog, monkeypatch):
    with ArrayCache(tmp_path, "emb", {}, FIELDS) as c:
        c.put("a", embedding=np.ones(4), detected=True)
    monkeypatch.setattr(cache_mod, "CACHE_FORMAT", cache_mod.CACHE_FORMAT + 1)  # this facerec is newer
    with caplog.at_level(logging.WARNING, "facerec.cache"):
        c = ArrayCache(tmp_path, "emb", {}, FIELDS)
    assert "is older than this facerec's" in caplog.text and c.on_disk and len(c) == 0
    with sqlite3.connect(c.path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == cache_mod.CACHE_FORMAT


def test_an_unreadable_file_is_set_aside(tmp_path: Path, caplog):
    first = ArrayCache(tmp_path, "emb", {}, FIELDS)
    first.close()
    path = first.path
    path.unlink()
    path.write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING, "facerec.cache"):
        c = ArrayCache(tmp_path, "emb", {}, FIELDS)
    assert "unreadable" in caplog.text and c.on_disk and len(c) == 0
    assert [p.read_bytes() for p in tmp_path.glob("*.unreadable-*")] == [b"not a database" * 100]


def test_remove_caches_by_prefix(tmp_path: Path):
    for name in ("embed-aaaa", "embed-aaab", "detect"):
        with ArrayCache(tmp_path, name, {}, FIELDS) as c:
            c.put("k", embedding=np.zeros(4), detected=True)
        c.file_for("k", ".jpg").parent.mkdir(parents=True)
    assert remove_caches(tmp_path, "embed-aaaa") == 1
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 4 and all(n.startswith(("detect-", "embed-aaab-")) for n in left)  # .sqlite + .files each


# A writer: WRITES entries of its own and SHARED ones every writer also puts (the same content,
# so the same value), one transaction every FLUSH entries, after each of which it reads the
# entries the other writers have committed so far (never a torn one).
WRITER = """
import sys
import numpy as np
from facerec.io.cache import ArrayCache
folder, who = sys.argv[1], int(sys.argv[2])
c = ArrayCache(folder, "emb", {"model": "m"}, {"v": ((64,), "float64"), "n": ((-1,), "int32")})
for i in range(WRITES):
    c.put(f"w{who}-{i}", v=np.full(64, who * 1000 + i, np.float64), n=np.arange(i % 5, dtype=np.int32))
    if i % SHARED_EVERY == 0:
        c.put(f"shared-{i}", v=np.full(64, -i, np.float64), n=np.zeros(1, np.int32))
    if i % FLUSH == FLUSH - 1:
        c.flush()
        # Read what the others have written so far, while they write: whole entries or none.
        for o in range(WRITERS):
            for j in range(0, WRITES, 5):
                e = c.get(f"w{o}-{j}")
                assert e is None or ((e["v"] == o * 1000 + j).all() and list(e["n"]) == list(range(j % 5))), (o, j)
c.close()
print(len(ArrayCache(folder, "emb", {"model": "m"}, {"v": ((64,), "float64"), "n": ((-1,), "int32")})))
"""
WRITERS, WRITES, SHARED_EVERY, FLUSH = 4, 150, 10, 7


def test_concurrent_writer_processes_all_land_nothing_torn(tmp_path: Path):
    script = WRITER.replace("WRITES", str(WRITES)).replace("SHARED_EVERY", str(SHARED_EVERY)).replace(
        "FLUSH", str(FLUSH)).replace("WRITERS", str(WRITERS))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(w)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(WRITERS)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert int(out) >= WRITES  # each saw at least its own entries
    c = ArrayCache(tmp_path, "emb", {"model": "m"}, {"v": ((64,), "float64"), "n": ((-1,), "int32")})
    shared = len(range(0, WRITES, SHARED_EVERY))
    assert len(c) == WRITERS * WRITES + shared
    for w in range(WRITERS):
        for i in range(WRITES):
            e = c.get(f"w{w}-{i}")
            assert (e["v"] == w * 1000 + i).all() and list(e["n"]) == list(range(i % 5))
    for i in range(0, WRITES, SHARED_EVERY):
        assert (c.get(f"shared-{i}")["v"] == -i).all()
