"""Regression test of every named model on real LFW pairs (one official fold).

Each model's floor comes from the measurement recorded in its registry entry and card
(fold-1 accuracy at the model's calibrated threshold, minus a margin for the 600-pair sampling
noise); a change that silently breaks detection, alignment, preprocessing or the weights drops
far below it.
"""
from __future__ import annotations

import numpy as np
import pytest

from facerec import FaceRecognizer
from facerec.models import MODELS, get_model
from facerec.metrics.pairs import read_lfw_pairs
from pipelines.evaluate import embed_image_files, score_pairs


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lfw_cache")  # detections shared by the models


@pytest.mark.parametrize("name", sorted(MODELS))
def test_named_model_loads_with_its_registered_thresholds(name, installed_model):
    spec = installed_model(name)
    rec = FaceRecognizer.load(model=name)
    assert rec.model_name == name and rec.model_id == spec.fingerprint
    assert rec.threshold == pytest.approx(spec.threshold)
    assert rec.search_threshold == pytest.approx(spec.search_threshold)  # calibrated, not the verification one
    assert rec.search_threshold > rec.threshold
    # The thresholds the model file carries are the registry's (the file keeps a copy).
    assert rec.embedder.metadata["threshold"] == pytest.approx(spec.threshold)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_lfw_fold1_accuracy_above_floor(name, installed_model, data_dir, cache):
    spec = installed_model(name)
    pairs = [p for p in read_lfw_pairs(data_dir / "lfw_pairs.txt", data_dir / "lfw") if p.fold == 0]
    assert len(pairs) == 600
    rec = FaceRecognizer.load(model=name)
    images = embed_image_files(rec, [x for p in pairs for x in (p.path_a, p.path_b)], cache_dir=cache, progress=False)
    scores = score_pairs(images, pairs)
    same = np.array([p.same for p in pairs])
    acc = float(np.mean((scores >= rec.threshold) == same))
    # Independent recomputation of one score straight through the public API.
    direct = rec.face(pairs[0].path_a, select="central", fallback_center=True).embedding @ \
        rec.face(pairs[0].path_b, select="central", fallback_center=True).embedding
    assert abs(float(direct) - scores[0]) < 1e-4
    floor = spec.figures["lfw_fold1_floor"]
    assert acc >= floor, f"{name}: fold-1 accuracy {acc:.4f} fell below the floor {floor}"


def test_the_default_is_the_strongest_named_model():
    default = get_model()
    assert default.name == "sface"
    assert all(default.figures["lfw_accuracy"] >= m.figures["lfw_accuracy"] for m in MODELS.values())


def test_default_model_tells_bush_from_powell(lfw_dir, installed_model, capsys):
    """The pair the previous default called "same" (score 0.43 ≥ 0.27): two different men."""
    import json

    from pipelines.cli import main

    installed_model()
    a = lfw_dir / "George_W_Bush" / "George_W_Bush_0001.jpg"
    b = lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"
    assert main(["verify", str(a), str(b), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["same"] is False and doc["score"] < doc["threshold"] - 0.1  # measured 0.027 vs 0.306
    assert main(["verify", str(a), str(lfw_dir / "George_W_Bush" / "George_W_Bush_0002.jpg"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["same"] is True
