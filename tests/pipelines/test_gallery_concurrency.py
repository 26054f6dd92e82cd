"""Concurrent writers of one saved gallery folder lose no update (issue 29).

Real processes, started at once: ``python -m pipelines.cli enroll`` (the default model, real
LFW photos of one face each) and a Python script writing through
:func:`facerec.gallery.storage.gallery_write_lock`. Before the lock covered the whole
load -> enroll -> save, each printed "enrolled" and the gallery kept only the last saver's.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from facerec.gallery import Gallery
from facerec.gallery.storage import gallery_write_lock
from pipelines.serve.galleries import GalleryStore

REPO = Path(__file__).resolve().parents[2]
#: Four LFW people, one photo of one face each.
PEOPLE = ["Aaron_Eckhart", "Colin_Powell", "George_W_Bush", "Serena_Williams"]
TIMEOUT_S = 180

# A script's writer, as the README tells scripts to write: the lock around load -> enroll -> save.
SCRIPT = """
import sys
from facerec import FaceRecognizer
from facerec.gallery import Gallery
from facerec.gallery.storage import current_version, gallery_write_lock
gdir, name, photo = sys.argv[1:]
rec = FaceRecognizer.load()
with gallery_write_lock(gdir):
    g = Gallery.load(gdir, rec) if current_version(gdir) is not None else Gallery(rec)
    g.enroll(name, photo)
    g.save(gdir)
print(len(g))
"""


def _env() -> dict[str, str]:
    # Four processes on a shared machine: one compute thread each.
    return {**os.environ, "OMP_NUM_THREADS": "1", "FACEREC_ORT_THREADS": "1", "PYTHONPATH": str(REPO)}


def _cli_enroll(gdir: Path, name: str, photo: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "enroll", "--gallery", str(gdir), name,
                             str(photo), "--json"], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _script_enroll(gdir: Path, name: str, photo: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(gdir), name, str(photo)], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _photos(lfw_dir: Path) -> dict[str, Path]:
    return {p.replace("_", " "): lfw_dir / p / f"{p}_0001.jpg" for p in PEOPLE}


def _wait_all(procs: dict[str, subprocess.Popen]) -> dict[str, str]:
    """Every process's stdout, once all exited 0 (their stderr in the failure message otherwise)."""
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=TIMEOUT_S)
        assert p.returncode == 0, f"writer of {name!r} exited {p.returncode}:\n{stderr}"
        out[name] = stdout
    return out


def test_concurrent_cli_enrolls_keep_every_identity(lfw_dir: Path, tmp_path: Path) -> None:
    gdir = tmp_path / "people"
    photos = _photos(lfw_dir)
    procs = {name: _cli_enroll(gdir, name, photo) for name, photo in photos.items()}  # all at once
    for name, stdout in _wait_all(procs).items():
        assert json.loads(stdout)["enrolled"] == {name: 1}  # each says it enrolled...
    g = Gallery.load(gdir)
    # ...and each one is still there.
    assert sorted(g.identities()) == sorted(photos), f"{len(g)} of {len(photos)} identities survived"
    assert all(g.info(name).num_templates == 1 for name in photos) and g.num_templates == len(photos)


def test_python_script_racing_cli_writers(lfw_dir: Path, tmp_path: Path) -> None:
    gdir = tmp_path / "people"
    photos = _photos(lfw_dir)
    names = list(photos)
    procs = {names[0]: _script_enroll(gdir, names[0], photos[names[0]])}
    procs.update({name: _cli_enroll(gdir, name, photos[name]) for name in names[1:]})
    _wait_all(procs)
    g = Gallery.load(gdir)
    assert sorted(g.identities()) == sorted(names), f"{len(g)} of {len(names)} identities survived"
    assert all(g.info(name).num_templates == 1 for name in names)


class _FakeRecognizer:  # the attributes a gallery and the store read from a FaceRecognizer
    model_id, model_name, threshold, search_threshold = "model-A", None, 0.3, 0.4

    class embedder:
        embedding_size = 8


def test_service_write_reloads_what_another_process_saved(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vec = lambda: rng.standard_normal((1, 8)).astype(np.float32)  # noqa: E731
    store = GalleryStore(tmp_path, _FakeRecognizer())  # type: ignore[arg-type]
    store.write("g", lambda g: g.enroll("Ada", vec()), create=True)
    # Another process (a CLI or script writer) saves a newer version behind the service's back.
    with gallery_write_lock(tmp_path / "g"):
        other = Gallery.load(tmp_path / "g")
        other.enroll("Bob", vec())
        other.save(tmp_path / "g")
    store.write("g", lambda g: g.enroll("Cy", vec()))
    assert Gallery.load(tmp_path / "g").identities() == ["Ada", "Bob", "Cy"]  # Bob was not overwritten
    assert store.read("g", lambda g: g.identities()) == ["Ada", "Bob", "Cy"]
    # A gallery another process created after the service started is loaded, not replaced.
    with gallery_write_lock(tmp_path / "h"):
        other = Gallery(model_id="model-A")
        other.enroll("Dee", vec())
        other.save(tmp_path / "h")
    store.write("h", lambda g: g.enroll("Eve", vec()), create=True)
    assert Gallery.load(tmp_path / "h").identities() == ["Dee", "Eve"]

