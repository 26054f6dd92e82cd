"""Gallery durability under real crashes and concurrency, and hostile identity names.

The oracle is the deterministic sequence of states a writer process goes through: after
save ``i`` the gallery holds identities ``id0 .. id{i}``, identity ``idj`` with the
``TEMPLATES`` vectors drawn from seed ``j``. Whatever the moment of a SIGKILL, or whenever a
reader loads, the gallery on disk must equal one of those states exactly.
(test_gallery_storage.py simulates exceptions at each step of a save; here the process dies.)
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facerec.gallery import Gallery, GalleryError

REPO = Path(__file__).resolve().parents[2]
D, TEMPLATES = 64, 40

WRITER = r"""
import os, sys
import numpy as np
from facerec.gallery import Gallery, GalleryError
D, T = {D}, {T}
root, log_path, stop_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    g = Gallery.load(root)
except GalleryError:
    g = Gallery(dim=D, model_id="x")
i = len(g)
log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
print("ready", i, flush=True)
while i < stop_after:
    v = np.random.default_rng(i).standard_normal((T, D)).astype(np.float32)
    g.enroll(f"id{{i}}", v)
    i += 1
    g.save(root)
    os.write(log, f"{{i}}\n".encode())  # logged only once save() returned: state i is durable
    os.fsync(log)
""".format(D=D, T=TEMPLATES)


def _expected_vectors(i: int) -> np.ndarray:
    v = np.random.default_rng(i).standard_normal((TEMPLATES, D)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _state_size(g: Gallery) -> int:
    """Check ``g`` is exactly the writer's state n (for some n) and return n."""
    n = len(g)
    assert g.identities() == [f"id{i}" for i in range(n)]
    assert g.num_templates == n * TEMPLATES
    assert all(g.info(f"id{i}").num_templates == TEMPLATES for i in range(n))
    if n:
        # Every template of the newest and the oldest identity is found as itself (exact scores).
        for i in {0, n - 1}:
            res = g.search_embeddings(_expected_vectors(i), k=1)
            assert [r.identity for r in res] == [f"id{i}"] * TEMPLATES
            assert np.allclose([r.score for r in res], 1.0, atol=1e-5)
    return n


def _spawn(root: Path, log: Path, stop_after: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(log), str(stop_after)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _logged(log: Path) -> int:
    lines = log.read_text().split() if log.exists() else []
    return int(lines[-1]) if lines else 0


def test_sigkill_during_saves_leaves_a_saved_state(tmp_path: Path) -> None:
    root, log = tmp_path / "gallery", tmp_path / "saves.log"
    rnd = random.Random(1234)
    seen = []
    for _ in range(5):
        proc = _spawn(root, log, stop_after=10_000)
        ready = proc.stdout.readline().split()
        assert ready and ready[0] == "ready", proc.stderr.read()
        time.sleep(rnd.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        durable = max(_logged(log), int(ready[1]))  # the state it started from was on disk too
        n = _state_size(Gallery.load(root))  # never a broken state
        # The loaded state is the last logged save, or the one whose save completed just before
        # the kill landed between save() and the log write.
        assert n in (durable, durable + 1), (n, durable)
        seen.append((durable, n))
    assert seen[-1][0] > 0, "the writer never completed a save: the test exercised nothing"
    # Debris of killed saves (.tmp-* folders, unreferenced versions) does not stop later saves.
    g = Gallery.load(root)
    g.save(root)
    assert _state_size(Gallery.load(root)) == len(g)


def test_readers_during_saves_always_see_a_saved_state(tmp_path: Path) -> None:
    root, log = tmp_path / "gallery", tmp_path / "saves.log"
    Gallery(dim=D, model_id="x").save(root)
    proc = _spawn(root, log, stop_after=25)
    assert proc.stdout.readline().startswith("ready")
    errors: list[str] = []
    sizes: list[list[int]] = [[], []]

    def reader(mine: list[int]) -> None:
        while proc.poll() is None:
            try:
                mine.append(_state_size(Gallery.load(root)))
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader, args=(s,)) for s in sizes]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        for t in threads:
            t.join()
    assert proc.returncode == 0, proc.stderr.read()
    loads = sum(map(len, sizes))
    assert not errors, f"{len(errors)} of {loads + len(errors)} loads failed, e.g. {errors[0]}"
    assert loads > 10
    for s in sizes:  # CURRENT only moves forward: no reader sees an older state after a newer one
        assert s == sorted(s)
    assert _state_size(Gallery.load(root)) == 25


@pytest.mark.parametrize("name", ["../escape", "../../../../tmp/x", "/abs/path", "a/b/c", "..", ".", "CURRENT",
                                  "v000001", ".lock", "Zoë 张伟 😀", "\u202eevil"])
def test_hostile_names_stay_inside_the_gallery(tmp_path: Path, name: str) -> None:
    sandbox = tmp_path / "sandbox"
    root = sandbox / "gallery"
    root.mkdir(parents=True)
    g = Gallery(dim=D, model_id="x")
    v = _expected_vectors(0)[:2]
    g.enroll(name, v)
    g.enroll("other", _expected_vectors(1)[:1])
    g.save(root)
    g.save(root)  # a second save also cleans up: must not touch files named like the identity
    assert [p.name for p in sandbox.iterdir()] == ["gallery"]
    assert sorted(p.name for p in root.iterdir()) == [".lock", "CURRENT", "v000002"]
    h = Gallery.load(root)
    assert h.identities() == [name, "other"] and h.search_embeddings(v[0], k=1)[0].identity == name
    h.remove(name)
    h.save(root)
    assert Gallery.load(root).identities() == ["other"]


@pytest.mark.parametrize("name", ["", " ", "\n", "a\x00b", None, 3])
def test_empty_and_control_names_are_refused_before_anything_is_written(tmp_path: Path, name) -> None:
    g = Gallery(dim=D, model_id="x")
    with pytest.raises(ValueError):
        g.enroll(name, _expected_vectors(0)[:1])
    assert len(g) == 0 and g.num_templates == 0
    g.save(tmp_path / "g")
    assert len(Gallery.load(tmp_path / "g")) == 0


@pytest.mark.parametrize("bulk", [False, True])
def test_hnsw_mean_re_enroll_keeps_one_row_per_identity(tmp_path: Path, bulk: bool) -> None:
    """Regression (found by test_robustness_fuzz): HNSW cannot delete, so updating an identity's
    mean row rebuilt the index from the store *and* added the new row again; the duplicate made
    the saved gallery unloadable ('index holds 2 vectors, expected 1')."""
    g = Gallery(dim=D, model_id="x", index="HNSW8", aggregation="mean")
    v = _expected_vectors(0)
    for rows in (v[:2], v[2:5]):
        if bulk:
            g.enroll_many(["Ada"] * len(rows) + ["Bob"], np.vstack([rows, v[10:11]]))
        else:
            g.enroll("Ada", rows)
    assert g.index.ntotal == len(g)
    g.save(tmp_path)
    h = Gallery.load(tmp_path)
    mean = v[:5].sum(0)
    assert h.search_embeddings(mean / np.linalg.norm(mean), k=1)[0].score == pytest.approx(1.0, abs=1e-5)
