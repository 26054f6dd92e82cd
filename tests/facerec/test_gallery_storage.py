"""Gallery persistence: round trips, crash safety, corruption and model checks."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from facerec import ModelError
from facerec.gallery import Gallery, GalleryError
from facerec.gallery import storage

D = 24
NAMES = ["Ada", "a/b", "..", "Zoë 张伟", 'quote"d']


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make(index: str = "Flat", aggregation: str = "max", seed: int = 0) -> tuple[Gallery, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = unit(rng.standard_normal((len(NAMES), 3, D)))
    g = Gallery(model_id="model-A", aggregation=aggregation, index=index, threshold=0.3)  # type: ignore[arg-type]
    for name, v in zip(NAMES, x):
        g.enroll(name, v, metadata={"source": name})
    return g, x


def ranking(g: Gallery, q: np.ndarray) -> list[list[tuple[str, float]]]:
    return [[(m.identity, round(m.score, 5)) for m in r.matches] for r in g.search(q, k=5)]


@pytest.mark.parametrize("index,aggregation", [("Flat", "max"), ("Flat", "mean"), ("HNSW8", "max"),
                                               ("IVF2,Flat", "max")])
def test_save_load_round_trip(tmp_path: Path, index: str, aggregation: str) -> None:
    g, x = make(index, aggregation)
    g.remove("..")
    g.save(tmp_path)
    h = Gallery.load(tmp_path)
    q = unit(np.random.default_rng(9).standard_normal((7, D)))
    assert h.identities() == g.identities() and ".." not in h
    assert ranking(h, q) == ranking(g, q)
    assert (h.model_id, h.dim, h.aggregation, h.index_type, h.threshold) == ("model-A", D, aggregation, index, 0.3)
    assert h.info("a/b").metadata == {"source": "a/b"} and h.info("a/b").num_templates == 3
    # The loaded gallery keeps working: enroll, remove, save again.
    h.enroll("new", x[0, :1])
    h.remove("Ada")
    h.save(tmp_path)
    k = Gallery.load(tmp_path)
    assert set(k.identities()) == {"a/b", "Zoë 张伟", 'quote"d', "new"} and k.num_templates == 10
    assert ranking(k, q) == ranking(h, q)


def test_names_never_become_paths(tmp_path: Path) -> None:
    g, _ = make()
    g.save(tmp_path)
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    version = storage.current_version(tmp_path)
    assert {p.name for p in version.iterdir()} == {"gallery.json", "templates.npy", "template_ids.npy",
                                                   "template_owners.npy", "index.faiss"}
    assert not any("Ada" in f or "Zo" in f for f in files)
    names = [r["name"] for r in json.loads((version / "gallery.json").read_text("utf-8"))["identities"]]
    assert names == NAMES


def test_old_versions_are_cleaned_up(tmp_path: Path) -> None:
    g, _ = make()
    for _ in range(3):
        g.save(tmp_path)
    (tmp_path / ".tmp-v000009-1").mkdir()  # debris of a crashed save
    g.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "CURRENT", "v000004"]


@pytest.mark.parametrize("fail_at", ["np.save", "faiss.write_index", "json.dump", "rename", "pointer"])
def test_crash_mid_save_keeps_previous_gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str) -> None:
    g, x = make()
    g.save(tmp_path)
    before = ranking(Gallery.load(tmp_path), x[:, 0])
    g.remove("Ada")
    g.enroll("Bob", x[0])

    calls = {"n": 0}

    def crash(*args, **kwargs):
        raise OSError(f"simulated crash in {fail_at}")

    import facerec.gallery.faiss_gallery as fg
    if fail_at == "np.save":  # after the first array was written: a partial version folder
        real = np.save

        def partial(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                crash()
            return real(*args, **kwargs)
        monkeypatch.setattr(fg.np, "save", partial)
    elif fail_at == "faiss.write_index":
        monkeypatch.setattr(fg.faiss, "write_index", crash)
    elif fail_at == "json.dump":
        monkeypatch.setattr(fg.json, "dump", lambda obj, f, **kw: (f.write('{"format": "facerec.gal'), crash()))
    elif fail_at == "rename":
        monkeypatch.setattr(storage.os, "rename", crash)
    else:  # the new version folder is complete, but the pointer switch never happens
        monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        g.save(tmp_path)
    monkeypatch.undo()
    loaded = Gallery.load(tmp_path)
    assert "Ada" in loaded and "Bob" not in loaded
    assert ranking(loaded, x[:, 0]) == before
    # The next save succeeds and wins.
    g.save(tmp_path)
    assert "Bob" in Gallery.load(tmp_path)


def test_crash_after_rename_before_pointer_switch(tmp_path: Path) -> None:
    """A process killed between rename and pointer switch leaves a newer, unreferenced folder."""
    g, x = make()
    g.save(tmp_path)
    cur = storage.current_version(tmp_path)
    stray = tmp_path / "v000002"
    os.mkdir(stray)
    (stray / "gallery.json").write_text("{garbage", encoding="utf-8")
    assert Gallery.load(tmp_path).identities() == NAMES  # CURRENT still decides
    g.remove("Ada")
    g.save(tmp_path)  # becomes v000003; the stray folder is deleted
    assert storage.current_version(tmp_path).name == "v000003" and not stray.exists() and not cur.exists()
    assert "Ada" not in Gallery.load(tmp_path)


def test_corruption_is_detected(tmp_path: Path) -> None:
    g, _ = make()
    version = g.save(tmp_path)
    data = bytearray((version / "templates.npy").read_bytes())
    data[-5] ^= 0xFF  # one flipped bit in a vector
    (version / "templates.npy").write_bytes(bytes(data))
    with pytest.raises(GalleryError, match="corrupt"):
        Gallery.load(tmp_path)
    with pytest.raises(GalleryError, match="no saved gallery"):
        Gallery.load(tmp_path / "missing")
    (tmp_path / "CURRENT").write_text("v000042\n")
    with pytest.raises(GalleryError):
        Gallery.load(tmp_path)


def test_inconsistent_metadata_is_detected(tmp_path: Path) -> None:
    g, _ = make()
    version = g.save(tmp_path)
    meta = json.loads((version / "gallery.json").read_text("utf-8"))
    meta["identities"][0]["num_templates"] = 2  # disagrees with the template matrix
    (version / "gallery.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(GalleryError, match="inconsistent"):
        Gallery.load(tmp_path)


def test_empty_gallery_round_trip(tmp_path: Path) -> None:
    Gallery().save(tmp_path)
    h = Gallery.load(tmp_path)
    assert len(h) == 0 and h.dim is None and h.search(np.ones(D, np.float32))[0].matches == ()


def test_model_mismatch_on_load(tmp_path: Path) -> None:
    class FakeRecognizer:
        threshold = search_threshold = 0.5

        def __init__(self, model_id: str, dim: int) -> None:
            self.model_id = model_id
            self.embedder = type("E", (), {"embedding_size": dim})()

    g, _ = make()
    g.save(tmp_path)
    same_model = FakeRecognizer("model-A", D)
    loaded = Gallery.load(tmp_path, same_model)  # type: ignore[arg-type]
    assert loaded.recognizer is same_model and loaded.model_id == "model-A" and loaded.dim == D
    assert loaded.threshold == 0.3  # the saved gallery's own threshold, not the recognizer's 0.5
    with pytest.raises(ModelError, match="model-A"):
        Gallery.load(tmp_path, FakeRecognizer("model-B", D))  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="-d"):
        Gallery.load(tmp_path, FakeRecognizer("model-A", D * 2))  # type: ignore[arg-type]


def test_write_lock_is_reentrant_and_exclusive(tmp_path: Path) -> None:
    """A save inside the write lock does not lock itself out (flock from two open files of one
    process would); another thread and another process wait for the lock."""
    import subprocess
    import sys
    import threading

    g, _ = make()
    entered = threading.Event()

    def other_writer() -> None:
        with storage.gallery_write_lock(tmp_path):
            entered.set()

    try_lock = ("import fcntl, sys; f = open(sys.argv[1], 'a+b')\n"
                "try: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                "except BlockingIOError: sys.exit(3)")
    lock_file = str(tmp_path / storage.LOCK)
    with storage.gallery_write_lock(tmp_path):
        with storage.gallery_write_lock(tmp_path):  # nested: re-entrant
            g.save(tmp_path)  # save_version takes the same lock: no deadlock
        t = threading.Thread(target=other_writer)
        t.start()
        assert not entered.wait(0.3)  # another thread waits...
        assert subprocess.run([sys.executable, "-c", try_lock, lock_file]).returncode == 3  # ...another process too
    t.join(10)
    assert entered.is_set()
    assert subprocess.run([sys.executable, "-c", try_lock, lock_file]).returncode == 0
    assert Gallery.load(tmp_path).identities() == NAMES
