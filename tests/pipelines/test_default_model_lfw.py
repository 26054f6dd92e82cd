"""Regression test of the shipped default model on real LFW pairs (one official fold).

The floor is set from the measurement recorded in facerec/weights/MODEL_CARD.md (fold-1
accuracy at the shipped threshold, minus a margin for the 600-pair sampling noise); a change
that silently breaks detection, alignment, preprocessing or the weights drops far below it.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from facerec import FaceRecognizer
from facerec.pairs import read_lfw_pairs
from facerec.recognizer import DEFAULT_WEIGHTS
from pipelines.evaluate import embed_image_files, score_pairs

CARD = DEFAULT_WEIGHTS.with_name("default.json")


@pytest.fixture(scope="module")
def card() -> dict:
    assert DEFAULT_WEIGHTS.is_file(), "the default model must ship inside the package"
    return json.loads(CARD.read_text())


def test_default_model_loads_with_threshold(card):
    rec = FaceRecognizer.load()
    assert rec.threshold == pytest.approx(card["threshold"])
    assert rec.search_threshold == pytest.approx(card["search_threshold"])  # calibrated, not the verification one
    assert rec.search_threshold > rec.threshold
    assert rec.model_id == card["fingerprint"]


def test_lfw_fold1_accuracy_above_floor(card, data_dir, tmp_path):
    pairs = [p for p in read_lfw_pairs(data_dir / "lfw_pairs.txt", data_dir / "lfw") if p.fold == 0]
    assert len(pairs) == 600
    rec = FaceRecognizer.load()
    images = embed_image_files(rec, [x for p in pairs for x in (p.path_a, p.path_b)], cache_dir=tmp_path,
                               progress=False)
    scores = score_pairs(images, pairs)
    same = np.array([p.same for p in pairs])
    acc = float(np.mean((scores >= rec.threshold) == same))
    # Independent recomputation of one score straight through the public API.
    direct = rec.face(pairs[0].path_a, select="central", fallback_center=True).embedding @ \
        rec.face(pairs[0].path_b, select="central", fallback_center=True).embedding
    assert abs(float(direct) - scores[0]) < 1e-4
    assert acc >= card["regression_floor_fold1"], f"fold-1 accuracy {acc:.4f} fell below the floor"
