"""The enrollment quality gate and the quality fields of verify / search, through the CLI
in-process on real LFW photos (a tiny, blurred copy of one against the original)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facerec import load_image
from facerec.gallery.storage import current_version
from facerec.quality import THRESHOLDS
from pipelines.cli import main


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def photos(lfw_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """Powell's photo as is, and a copy downscaled 5× and blurred (a 50 px thumbnail)."""
    root = tmp_path_factory.mktemp("quality-photos")
    src = lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"
    img = load_image(src)
    small = cv2.GaussianBlur(cv2.resize(img, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA), (0, 0), 0.8)
    Image.fromarray(small).save(root / "powell_small.png")
    return {"good": src, "small": root / "powell_small.png",
            "other": lfw_dir / "Colin_Powell" / "Colin_Powell_0002.jpg"}


def test_enroll_warns_about_a_tiny_blurred_photo_and_strict_refuses_it(tmp_path: Path, photos, installed_model,
                                                                        capsys) -> None:
    installed_model()  # the default model: quality does not depend on it, but the CLI loads one
    gdir = str(tmp_path / "g")
    rc, out, err = run(capsys, ["enroll", "--gallery", gdir, "Colin Powell", str(photos["small"])])
    assert rc == 0, err
    assert "warning:" in out and "blurred" in out and str(photos["small"]) in out

    rc, out, _ = run(capsys, ["enroll", "--gallery", gdir, "Colin Powell", str(photos["good"]), "--json"])
    assert rc == 0 and json.loads(out)["warnings"] == []  # a good photo draws no word

    rc, out, err = run(capsys, ["enroll", "--gallery", str(tmp_path / "g2"), "Colin Powell", str(photos["small"]),
                                "--strict-quality"])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "quality" in err and "blurred" in err and "Traceback" not in err
    assert current_version(tmp_path / "g2") is None  # refused: no gallery saved

    # --min-quality 0 lets it through; the JSON report names the causes
    rc, out, _ = run(capsys, ["enroll", "--gallery", str(tmp_path / "g3"), "Colin Powell", str(photos["small"]),
                              "--json", "--min-quality", "0"])
    assert rc == 0 and json.loads(out)["warnings"] == []
    rc, out, _ = run(capsys, ["enroll", "--gallery", str(tmp_path / "g4"), "Colin Powell", str(photos["small"]),
                              "--json"])
    w = json.loads(out)["warnings"]
    assert len(w) == 1 and "blurred" in w[0]["reasons"] and w[0]["quality"] < w[0]["min_quality"]


def test_bulk_enroll_with_strict_quality_skips_and_reports(tmp_path: Path, photos, installed_model, capsys) -> None:
    installed_model()
    root = tmp_path / "people" / "Colin Powell"
    root.mkdir(parents=True)
    for k in ("good", "small"):
        (root / photos[k].name).symlink_to(photos[k])
    rc, out, _ = run(capsys, ["enroll", "--gallery", str(tmp_path / "g"), "--folders", str(tmp_path / "people"),
                              "--strict-quality", "--json"])
    doc = json.loads(out)
    assert rc == 0 and doc["enrolled"] == {"Colin Powell": 1}
    assert [Path(s["path"]).name for s in doc["skipped"]] == ["powell_small.png"]
    assert "LowQualityError" in doc["skipped"][0]["reason"]


def test_verify_and_search_report_each_faces_quality(tmp_path: Path, photos, installed_model, capsys) -> None:
    installed_model()
    rc, out, _ = run(capsys, ["verify", str(photos["good"]), str(photos["small"]), "--json"])
    doc = json.loads(out)
    assert rc == 0 and set(doc) == {"same", "score", "threshold", "quality"}
    assert doc["quality"]["a"]["low"] is False and doc["quality"]["b"]["low"] is True
    qb = doc["quality"]["b"]
    assert qb["size_px"] == pytest.approx(doc["quality"]["a"]["size_px"] * 0.2, rel=0.15)  # 5× smaller photo
    assert "blurred" in qb["reasons"] and (("too small" in qb["reasons"]) == (qb["size_px"] < THRESHOLDS.min_size_px))
    rc, out, _ = run(capsys, ["verify", str(photos["good"]), str(photos["small"])])
    assert f"{photos['small']}: quality" in out and "(low: " in out

    gdir = str(tmp_path / "g")
    assert run(capsys, ["enroll", "--gallery", gdir, "Colin Powell", str(photos["good"])])[0] == 0
    rc, out, _ = run(capsys, ["search", "--gallery", gdir, str(photos["small"]), "--json"])
    face = json.loads(out)["faces"][0]
    assert rc == 0 and face["quality"]["low"] is True and "blurred" in face["quality"]["reasons"]
    rc, out, _ = run(capsys, ["search", "--gallery", gdir, str(photos["other"])])
    assert "quality" in out and "(low" not in out
