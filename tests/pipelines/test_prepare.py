"""``facerec prepare`` on real photos (LFW, ORL, CelebA copies in tmp) plus a non-image file
and a face-less image: crops equal an independent detect → largest → align of the same
photo, every problem is in the report, and a second run resumes instead of redoing work."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from facerec import MTCNNDetector, align_face, load_image
from pipelines.cli import main
from pipelines.prepare import REPORT_NAME, PrepareOptions, prepare


@pytest.fixture(scope="module")
def raw_tree(data_dir, tmp_path_factory):
    src = tmp_path_factory.mktemp("raw")
    (src / "aaron").mkdir()
    for n in (1, 2, 3):
        shutil.copy(data_dir / "lfw" / "Aaron_Eckhart" / f"Aaron_Eckhart_000{n}.jpg" if n == 1 else
                    data_dir / "lfw" / "Aaron_Peirsol" / f"Aaron_Peirsol_000{n - 1}.jpg", src / "aaron" / f"{n}.jpg")
    (src / "orl_s1").mkdir()
    shutil.copy(data_dir / "orl" / "s1" / "1.pgm", src / "orl_s1" / "1.pgm")
    (src / "crowd").mkdir()
    shutil.copy(data_dir / "celeba" / "7201" / "125570.jpg", src / "crowd" / "two_faces.jpg")  # several people
    (src / "crowd" / "notes.txt").write_text("not an image")
    # A real photo region with no face: a 120×120 corner of an LFW background, enlarged.
    bg = load_image(data_dir / "lfw" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")[:40, :40]
    Image.fromarray(bg).resize((160, 160)).save(src / "crowd" / "wall.png")
    return src


def _largest_aligned(path, detector):
    rgb = load_image(path)
    dets = detector.detect(rgb)
    best = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return align_face(rgb, best.landmarks, "arcface_112"), len(dets)


def test_prepare_tree_report_and_resume(raw_tree, tmp_path, capsys):
    from facerec.detection.bounded import create_detector

    detector = create_detector()  # the default detector, as prepare uses it
    dst = tmp_path / "crops"
    assert main(["prepare", str(raw_tree), str(dst), "--workers", "2", "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert "prepared 5/7" in line and "1 unreadable" in line and "1 no face (skipped)" in line

    report = json.loads((dst / REPORT_NAME).read_text())
    assert report["total"] == 7 and report["written"] == 5
    issues = report["issues"]
    assert [r["path"] for r in issues["unreadable"]] == ["crowd/notes.txt"]
    assert [r["path"] for r in issues["no_face"]] == ["crowd/wall.png"]
    # The main face and two people behind her (the one taking a photo and one at the right
    # edge): yunet finds all three (mtcnn misses the photographer). Checked by eye.
    assert [(r["path"], r["faces"]) for r in issues["multiple_faces"]] == [("crowd/two_faces.jpg", 3)]
    assert not (dst / "crowd" / "wall.png").exists() and not (dst / "crowd" / "notes.png").exists()

    # Same relative paths, PNG (lossless): the same pixels as an independent detect+align (up to
    # sub-pixel landmark jitter: the workers run with 1 thread, float sums differ slightly).
    for rel in ("aaron/1", "aaron/2", "orl_s1/1", "crowd/two_faces"):
        src_file = next((raw_tree / rel).parent.glob((raw_tree / rel).name + ".*"))
        want, n = _largest_aligned(src_file, detector)
        got = np.asarray(Image.open(dst / f"{rel}.png").convert("RGB"))
        assert got.shape == (112, 112, 3)
        diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
        assert diff.mean() < 1.5 and np.percentile(diff, 99) < 40, (rel, diff.mean())

    # Resume: nothing is rewritten, and the multi-face note survives in the new report.
    mtimes = {p: p.stat().st_mtime_ns for p in dst.rglob("*.png")}
    rep2 = prepare(raw_tree, dst, PrepareOptions(), workers=1, progress=False)
    assert rep2["skipped_existing"] == 5
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*.png")} == mtimes
    assert [r["path"] for r in rep2["issues"]["multiple_faces"]] == ["crowd/two_faces.jpg"]
    assert not list(dst.rglob(".*.tmp*"))  # no temporary files left behind


def test_fallback_center_and_jpeg(raw_tree, tmp_path):
    rep = prepare(raw_tree, tmp_path / "c", PrepareOptions(fallback_center=True, image_format="jpg"), progress=False)
    assert rep["counts"]["no_face_center_fallback"] == 1 and rep["written"] == 6
    assert Image.open(tmp_path / "c" / "crowd" / "wall.jpg").size == (112, 112)


def test_prepare_errors(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "src").mkdir()
    assert main(["prepare", str(tmp_path / "src"), str(tmp_path / "src" / "out")]) == 2


def test_the_one_folder_walk_skips_hidden_entries_and_follows_links(tmp_path):
    """pipelines.photos: hidden files and folders skipped, links followed, sorted; identity
    folders hold their own files only (checked against a listing written out by hand)."""
    from pipelines.photos import identity_folders, list_files, list_images

    (tmp_path / "src" / "b").mkdir(parents=True)
    (tmp_path / "src" / ".hidden").mkdir()
    (tmp_path / "src" / "a" / "deep").mkdir(parents=True)
    for rel in ("b/2.jpg", "b/1.PNG", "b/notes.txt", "b/.x.jpg", ".hidden/h.jpg", "a/deep/3.pgm", "top.jpg"):
        (tmp_path / "src" / rel).write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "4.jpg").write_bytes(b"x")
    (tmp_path / "src" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    src = tmp_path / "src"
    assert list_files(src) == ["a/deep/3.pgm", "b/1.PNG", "b/2.jpg", "b/notes.txt", "link/4.jpg", "top.jpg"]
    assert list_images(src) == [src / p for p in ("a/deep/3.pgm", "b/1.PNG", "b/2.jpg", "link/4.jpg", "top.jpg")]
    folders = {d.name: [f.name for f in fs] for d, fs in identity_folders(src)}
    assert folders == {"a": [], "b": ["1.PNG", "2.jpg"], "link": ["4.jpg"]}
    assert {d.name: [f.name for f in fs] for d, fs in identity_folders(src, images_only=False)}["b"] == \
        ["1.PNG", "2.jpg", "notes.txt"]
