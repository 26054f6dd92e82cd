"""Untrusted files: model checkpoints and gallery folders that are malicious or damaged.

Malicious pickles must never execute (a marker file would appear) and must be refused with
one clear error through the public paths: ``FaceRecognizer.load`` (ModelError) and the CLI
``--weights`` (exit 2, one line). Damaged weights must not load silently as a different model.
(test_embedder.py covers ``Embedder.load`` on a malicious pickle; test_binset.py .bin files.)
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from facerec import FaceRecognizer, ModelError
from facerec.gallery import Gallery, GalleryError
from facerec.gallery.storage import current_version
from pipelines.cli import main

REPO = Path(__file__).resolve().parents[2]
MARKER = Path("/tmp") / f"facerec-pwned-{os.getpid()}"


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


@pytest.fixture(scope="module")
def hostile_models(tmp_path_factory, random_model: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    good = torch.load(random_model, weights_only=True)
    data = random_model.read_bytes()
    out = {}

    def put(name: str, blob: bytes) -> None:
        (d / f"{name}.pt").write_bytes(blob)
        out[name] = d / f"{name}.pt"

    buf = d / "tmp.pt"
    torch.save({**good, "metadata": {"threshold": 0.5, "x": _Evil()}}, buf)  # evil object inside a real checkpoint
    put("evil_in_metadata", buf.read_bytes())
    put("evil_plain_pickle", pickle.dumps(_Evil()))
    put("empty", b"")
    put("truncated", data[: len(data) // 2])
    # Flipped bytes inside the weights (the zip's stored tensor data): the file still unpickles.
    blob = bytearray(data)
    rng = random.Random(0)
    start = data.find(b"data/0")  # first tensor record; flip well after the headers
    for _ in range(16):
        k = rng.randrange(start + 4096, len(blob) - 4096)
        blob[k] ^= 0xFF
    put("bitflipped_weights", bytes(blob))
    torch.save({**good, "metadata": "not a dict"}, buf)
    put("metadata_not_dict", buf.read_bytes())
    torch.save({**good, "backbone": "no_such_net"}, buf)
    put("unknown_backbone", buf.read_bytes())
    return out


MESSAGES = {"evil_in_metadata": "cannot load model", "evil_plain_pickle": "cannot load model",
            "empty": "cannot load model", "truncated": "cannot load model",
            "bitflipped_weights": "do not match the fingerprint", "metadata_not_dict": "metadata",
            "unknown_backbone": "incompatible"}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("case", list(MESSAGES))
def test_hostile_checkpoints_are_refused(case, hostile_models, aaron, capsys):
    path = hostile_models[case]
    with pytest.raises(ModelError, match=MESSAGES[case]) as exc:
        FaceRecognizer.load(path)
    assert str(path) in str(exc.value)
    assert main(["verify", str(aaron), str(aaron), "--weights", str(path)]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in cap.err and MESSAGES[case] in lines[0], cap.err
    assert not MARKER.exists(), "a malicious pickle executed code"


def test_untouched_checkpoint_still_loads(random_model):
    # The oracle for the cases above: the file they were derived from is fine.
    assert FaceRecognizer.load(random_model).threshold == 0.5


# -- gallery folders ------------------------------------------------------------------------
def _saved_gallery(root: Path) -> Path:
    g = Gallery(dim=8, model_id="m")
    g.enroll("Ada", np.eye(8, dtype=np.float32)[:2])
    g.enroll("Bob", np.eye(8, dtype=np.float32)[2:3])
    g.save(root)
    return current_version(root)


def _replace_file(folder: Path, name: str, blob: bytes) -> None:
    """Swap a file *and* update its size/sha256 in gallery.json: an attacker, not bit rot."""
    (folder / name).write_bytes(blob)
    meta = json.loads((folder / "gallery.json").read_text())
    meta["files"][name] = {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    (folder / "gallery.json").write_text(json.dumps(meta))


def test_pickled_npy_in_gallery_is_refused(tmp_path):
    folder = _saved_gallery(tmp_path)
    import io
    buf = io.BytesIO()
    np.save(buf, np.array([_Evil()], dtype=object), allow_pickle=True)
    _replace_file(folder, "templates.npy", buf.getvalue())
    with pytest.raises(GalleryError, match="inconsistent"):
        Gallery.load(tmp_path)
    assert not MARKER.exists()


@pytest.mark.parametrize("edit", ["pointer_traversal", "pointer_absolute", "names_not_list", "bad_name",
                                  "negative_id", "huge_count"])
def test_tampered_gallery_json_is_refused(tmp_path, edit, capsys):
    folder = _saved_gallery(tmp_path)
    meta = json.loads((folder / "gallery.json").read_text())
    if edit == "pointer_traversal":
        (tmp_path / "CURRENT").write_text("../../etc\n")
    elif edit == "pointer_absolute":
        (tmp_path / "CURRENT").write_text(str(folder) + "\n")
    elif edit == "names_not_list":
        meta["identities"] = {"Ada": 1}
    elif edit == "bad_name":
        meta["identities"][0]["name"] = "evil\x1b[2J"
    elif edit == "negative_id":
        meta["identities"][0]["id"] = -1
    elif edit == "huge_count":
        meta["identities"][0]["num_templates"] = 10**12
    (folder / "gallery.json").write_text(json.dumps(meta))
    with pytest.raises(GalleryError):
        Gallery.load(tmp_path)
    if edit in ("pointer_traversal", "bad_name"):  # and through the CLI: one line, exit 2
        assert main(["gallery", "list", "--gallery", str(tmp_path)]) == 2
        cap = capsys.readouterr()
        assert len(cap.err.strip().splitlines()) == 1 and "Traceback" not in cap.err and "\x1b" not in cap.err


_FAISS_CHILD = r"""
import sys, json, hashlib, random
from pathlib import Path
from facerec.gallery import Gallery, GalleryError
folder, root = Path(sys.argv[1]), sys.argv[2]
orig = (folder / "index.faiss").read_bytes()
rng = random.Random(0)
outcomes = {}
for trial in range(40):
    blob = bytearray(orig)
    if trial % 2:
        blob = blob[: rng.randrange(len(blob))]
    else:
        for _ in range(4):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
    blob = bytes(blob)
    (folder / "index.faiss").write_bytes(blob)
    meta = json.loads((folder / "gallery.json").read_text())
    meta["files"]["index.faiss"] = {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    (folder / "gallery.json").write_text(json.dumps(meta))
    try:
        g = Gallery.load(root)
        g.search_embeddings([1.0] + [0.0] * 7, k=2)
        outcomes["loaded"] = outcomes.get("loaded", 0) + 1
    except GalleryError:
        outcomes["GalleryError"] = outcomes.get("GalleryError", 0) + 1
print(json.dumps(outcomes))
"""


def test_tampered_faiss_index_never_crashes_the_process(tmp_path):
    """Mutated/truncated index.faiss (with a matching sha256) either loads into a consistent
    gallery or raises GalleryError; run in a child so a native crash fails the test, not pytest."""
    folder = _saved_gallery(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _FAISS_CHILD, str(folder), str(tmp_path)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, f"child died with {proc.returncode}: {proc.stderr[-2000:]}"
    outcomes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sum(outcomes.values()) == 40 and outcomes.get("GalleryError", 0) > 0, outcomes
