"""facerec enroll / search / gallery in-process on real LFW photos (random-weight model:
plumbing, not accuracy — the same photo must find itself with score ≈ 1)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from facerec.gallery import Gallery
from pipelines.cli import main


def run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    rc = main(argv + ["--json"])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip() else {}


@pytest.fixture()
def photo_tree(tmp_path: Path, lfw_dir: Path) -> Path:
    """ROOT/<name>/<images>: two people, a photo without a face, a file that is no image."""
    root = tmp_path / "photos"
    for name, files in {"Colin Powell": ["Colin_Powell/Colin_Powell_0001.jpg", "Colin_Powell/Colin_Powell_0002.jpg"],
                        "George W Bush": ["George_W_Bush/George_W_Bush_0001.jpg"]}.items():
        (root / name).mkdir(parents=True)
        for f in files:
            (root / name / Path(f).name).symlink_to(lfw_dir / f)
    Image.new("RGB", (200, 200), (128, 128, 128)).save(root / "George W Bush" / "blank.png")
    (root / "Colin Powell" / "notes.jpg").write_text("not an image")
    (root / "Colin Powell" / ".DS_Store").write_text("hidden files are ignored")
    (root / "Empty").mkdir()
    return root


def test_enroll_search_list_remove(tmp_path: Path, aaron: Path, photo_tree: Path, random_model: Path, capsys) -> None:
    gdir = str(tmp_path / "gallery")
    model = ["--weights", str(random_model)]
    rc, doc = run_json(capsys, ["enroll", "--gallery", gdir, "Aaron Eckhart", str(aaron), *model])
    assert rc == 0 and doc["enrolled"] == {"Aaron Eckhart": 1} and doc["identities"] == 1

    rc, doc = run_json(capsys, ["enroll", "--gallery", gdir, "--folders", str(photo_tree), *model])
    assert rc == 0 and doc["enrolled"] == {"Colin Powell": 2, "George W Bush": 1} and doc["identities"] == 3
    skipped = {Path(s["path"]).name: s["reason"] for s in doc["skipped"]}
    assert set(skipped) == {"blank.png", "notes.jpg", "Empty"}
    assert skipped["blank.png"].startswith("NoFaceError") and skipped["notes.jpg"].startswith("ImageError")

    rc, doc = run_json(capsys, ["search", "--gallery", gdir, str(aaron), "-k", "2", *model])
    (face,) = doc["faces"]
    assert rc == 0 and face["identity"] == "Aaron Eckhart" and face["score"] == pytest.approx(1.0, abs=1e-4)
    assert face["threshold"] == 0.5 and len(face["matches"]) == 2 and face["detection"]["score"] > 0.9

    # Open set: above every possible score, the face is "nobody I know" but keeps its best match.
    assert main(["search", "--gallery", gdir, str(aaron), "--threshold", "1.01", *model]) == 0
    out = capsys.readouterr().out
    assert "unknown (best: Aaron Eckhart" in out

    rc, doc = run_json(capsys, ["gallery", "list", "--gallery", gdir])
    assert rc == 0 and doc["identities"] == 3 and doc["templates"] == 4 and doc["dim"] == 512
    assert {p["name"]: p["num_templates"] for p in doc["people"]} == {"Aaron Eckhart": 1, "Colin Powell": 2,
                                                                      "George W Bush": 1}

    assert main(["gallery", "remove", "--gallery", gdir, "Aaron Eckhart"]) == 0
    assert "removed Aaron Eckhart" in capsys.readouterr().out
    assert "Aaron Eckhart" not in Gallery.load(gdir)  # persisted
    assert main(["gallery", "remove", "--gallery", gdir, "Aaron Eckhart"]) == 2
    assert "no identity 'Aaron Eckhart'" in capsys.readouterr().err


def test_enroll_errors_leave_gallery_unchanged(tmp_path: Path, aaron: Path, random_model: Path, capsys) -> None:
    import torch

    from facerec import Embedder

    gdir = str(tmp_path / "gallery")
    model = ["--weights", str(random_model)]
    assert main(["enroll", "--gallery", gdir, "Aaron", str(aaron), *model]) == 0
    capsys.readouterr()
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    # All or nothing: one photo without a face aborts the whole enrollment.
    assert main(["enroll", "--gallery", gdir, "Bob", str(aaron), str(blank), *model]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no face found" in err and "blank.png" in err
    assert Gallery.load(gdir).identities() == ["Aaron"]
    # A gallery built with one model refuses another.
    torch.manual_seed(1)
    other = tmp_path / "other.pt"
    Embedder.create("mobilefacenet").save(other)
    assert main(["enroll", "--gallery", gdir, "Bob", str(aaron), "--weights", str(other)]) == 2
    assert "model" in capsys.readouterr().err
    assert main(["search", "--gallery", gdir, str(aaron), "--weights", str(other)]) == 2
    capsys.readouterr()
    assert main(["enroll", "--gallery", gdir, "  ", str(aaron), *model]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["enroll", "--gallery", gdir, *model]) == 2
    capsys.readouterr()
    assert main(["enroll", "--gallery", gdir, "Bob", str(aaron), "--aggregation", "mean", *model]) == 2
    assert "aggregation 'max', not 'mean'" in capsys.readouterr().err
    assert main(["search", "--gallery", str(tmp_path / "nothing"), str(aaron), *model]) == 2
    assert "no saved gallery" in capsys.readouterr().err
