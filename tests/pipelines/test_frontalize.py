"""The pose stage in the pipelines, in-process on real LFW images: the frontalize picture,
--frontalize on verify and evaluate, enroll --synth-views, the [augment] pose option and
one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facerec import FaceRecognizer, load_image
from facerec.gallery import Gallery
from facerec.pose import face_views, frontalize_face, rotate_crop, synthesis_yaws
from pipelines.cli import main
from pipelines.training.augment import augment, sample_rng
from pipelines.training.config import AugmentConfig, Config, validate


def test_frontalize_writes_the_grid(aaron, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["frontalize", str(aaron), "--out", str(out), "--yaws", "-30", "30"]) == 0
    assert "head pose: yaw" in capsys.readouterr().out
    w, h = Image.open(out).size
    assert w == 4 * 224 and h == 2 * (224 + 26)  # 4 tiles on top, 2 views below


@pytest.mark.parametrize("case", ["noface", "badout", "badyaw"])
def test_frontalize_errors_are_one_line(case, aaron, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    args = {"noface": ["frontalize", str(blank), "--out", str(tmp_path / "g.png")],
            "badout": ["frontalize", str(aaron), "--out", str(tmp_path / "g.txt")],
            "badyaw": ["frontalize", str(aaron), "--out", str(tmp_path / "g.png"), "--yaws", "80"]}[case]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err and "Traceback" not in err


def test_recognizer_frontalize_embeds_the_frontal_crop(aaron, random_model):
    rec = FaceRecognizer.load(random_model, frontalize=True)
    face = rec.face(aaron)
    rgb = load_image(aaron)
    expected = frontalize_face(rgb, face.detection.landmarks, rec.embedder.preprocessing.template)
    assert np.array_equal(face.crop, expected)
    assert np.allclose(face.embedding, rec.embedder.embed(expected[None])[0], atol=1e-5)
    plain = FaceRecognizer(rec.embedder, rec.detector).face(aaron)
    assert not np.array_equal(plain.crop, face.crop)


def test_verify_frontalize_json(aaron, lfw_dir, random_model, capsys):
    b = lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    assert main(["verify", str(aaron), str(b), "--weights", str(random_model), "--frontalize", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["same"] is True and doc["score"] == pytest.approx(1.0, abs=1e-5)


def test_evaluate_bin_refuses_frontalize(tmp_path, random_model, capsys):
    assert main(["evaluate", "bin", str(tmp_path / "x.bin"), "--weights", str(random_model), "--frontalize"]) == 2
    assert "--frontalize" in capsys.readouterr().err


def test_enroll_synth_views_adds_templates(aaron, random_model, tmp_path, capsys):
    rec = FaceRecognizer.load(random_model)
    g = Gallery(rec)
    assert g.enroll("aaron", str(aaron), synth_views=2) == 3
    # The extra templates are the embeddings of the views rendered from the photo.
    face = rec.face(aaron)
    views = face_views(load_image(aaron), face.detection.landmarks, synthesis_yaws(2))
    expect = rec.embedder.embed(np.stack([face.crop, *views]))
    results = g.search_embeddings(expect, k=1)  # max over templates: 1 only for an enrolled vector
    assert [r.identity for r in results] == ["aaron"] * 3
    assert np.allclose([r.score for r in results], 1.0, atol=1e-4)
    assert g.search_embeddings(rec.embedder.embed(np.stack(views[:1])[:, ::-1].copy()), k=1)[0].score < 0.9999
    gdir = str(tmp_path / "gal")
    assert main(["enroll", "--gallery", gdir, "Aaron", str(aaron), "--weights", str(random_model),
                 "--synth-views", "2"]) == 0
    assert "enrolled Aaron: 3 template(s)" in capsys.readouterr().out
    assert main(["enroll", "--gallery", gdir, "Aaron", str(aaron), "--weights", str(random_model),
                 "--synth-views", "-1"]) == 2


def test_pose_augmentation_is_the_rendered_view_at_the_drawn_yaw(aaron):
    crop = np.asarray(Image.open(aaron).convert("RGB").resize((112, 112)))
    cfg = AugmentConfig(flip=0, grayscale=0, downscale=0, pose=1.0, pose_yaw=30.0)
    u = sample_rng(1, 2, 3).random(6)
    expected = rotate_crop(crop, 30.0 * (2 * u[5] - 1)).image
    assert np.array_equal(augment(crop, cfg, sample_rng(1, 2, 3)), expected)
    assert not np.array_equal(expected, crop)
    # pose = 0 leaves the other augmentations' draws as they were (the pose draws come last).
    old = AugmentConfig(flip=1.0, grayscale=0, downscale=0)
    assert np.array_equal(augment(crop, old, sample_rng(0, 0, 0)), crop[:, ::-1])


@pytest.mark.parametrize("bad", [{"pose": 1.5}, {"pose": -0.1}, {"pose_yaw": 75.0}])
def test_pose_augmentation_config_is_validated(bad):
    with pytest.raises(ValueError, match="augment.pose"):
        validate(Config(augment=AugmentConfig(**bad)))
