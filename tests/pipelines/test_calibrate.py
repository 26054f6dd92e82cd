"""`facerec calibrate` on real ORL faces: thresholds recomputed independently from the pairs."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from facerec import Embedder
from pipelines.cli import main


@pytest.fixture(scope="module")
def orl_crops(orl_dir, tmp_path_factory):
    """ORL aligned with the fixed centre alignment into a folder of identity folders."""
    from PIL import Image

    from facerec.alignment import align_face, center_crop_landmarks, get_template
    from facerec.io.image import load_image

    out = tmp_path_factory.mktemp("orl_crops")
    tpl = get_template("arcface_112")
    for person in [p for p in sorted(orl_dir.iterdir()) if p.is_dir()][:20]:
        (out / person.name).mkdir()
        for f in sorted(person.glob("*.pgm")):
            rgb = load_image(f)
            crop = align_face(rgb, center_crop_landmarks(rgb.shape[1], rgb.shape[0], tpl, 1.0), tpl)
            Image.fromarray(crop).save(out / person.name / (f.stem + ".png"))
    return out


def test_calibrate_writes_both_thresholds(orl_crops, tmp_path, capsys):
    weights = tmp_path / "cal.pt"
    from facerec.models import get_model

    default = get_model("facerec-mbf-v2").torch_path()
    assert main(["calibrate", str(orl_crops), "--weights", str(default), "--out", str(weights), "--far", "0.01"]) == 0
    res = json.loads(capsys.readouterr().out)
    emb = Embedder.load(weights)
    assert emb.metadata["threshold"] == res["threshold"] and emb.metadata["search_threshold"] == res["search_threshold"]
    # Independent recomputation: all pairs of the 200 crops, scikit-learn's ROC for the FAR.
    from pipelines.training.config import DataConfig
    from pipelines.training.data import load_crop, scan_identities

    ids = scan_identities(orl_crops, 2)
    crops = np.stack([load_crop(f, DataConfig()) for i in ids for f in i.files])
    owner = np.array([k for k, i in enumerate(ids) for _ in i.files])
    e = Embedder.load(default).embed(crops)
    iu = np.triu_indices(len(e), 1)
    s, same = (e @ e.T)[iu], (owner[iu[0]] == owner[iu[1]])
    assert res["calibration"]["genuine_pairs"] == same.sum() == 20 * 45
    imp = s[~same]
    assert np.mean(imp > res["search_threshold"]) <= 0.01 < np.mean(imp >= res["search_threshold"] - 1e-4)
    cal = res["calibration"]
    assert cal["tar_at_search_threshold"] == pytest.approx(np.mean(s[same] >= res["search_threshold"]), abs=1e-6)
    assert cal["far_at_threshold"] == pytest.approx(np.mean(imp >= res["threshold"]), abs=1e-6)
    fpr, tpr, thr = roc_curve(same, s)  # scikit-learn: the TAR reached at that FAR is no better
    assert cal["tar_at_search_threshold"] <= tpr[fpr <= 0.01].max() + 1e-9
    assert res["calibration"]["far_at_search_threshold"] <= 0.01
    # The verification threshold beats both trivial decisions on the balanced pairs.
    assert res["calibration"]["verification_accuracy"] > 0.75


def test_calibrate_picks_the_model_by_the_one_rule(orl_crops, tmp_path, capsys, monkeypatch):
    """No flag: $FACEREC_MODEL; --model beats it. The report names the model and its fingerprint
    (the registry's)."""
    import shutil

    from facerec.models import MODELS

    small = tmp_path / "small"
    for person in sorted(orl_crops.iterdir())[:3]:
        shutil.copytree(person, small / person.name, ignore=lambda d, names: sorted(names)[2:])
    monkeypatch.setenv("FACEREC_MODEL", "facerec-mbf-v2")
    for argv, want in (([], "facerec-mbf-v2"), (["--model", "sface"], "sface")):
        if not MODELS[want].installed():
            pytest.skip(f"model {want} is not installed")
        assert main(["calibrate", str(small), "--far", "0.25", *argv]) == 0
        model = json.loads(capsys.readouterr().out)["model"]
        assert model["name"] == want and model["fingerprint"] == MODELS[want].fingerprint
