"""The raw feature norms (a quality signal) against the networks' own outputs, computed separately."""
from __future__ import annotations

import numpy as np
import pytest

from facerec import FaceRecognizer, load_image
from facerec.alignment import align_face


@pytest.fixture(scope="module")
def crops(lfw_dir):
    from facerec.detection.bounded import create_detector

    det = create_detector(runtime="onnx")
    out = []
    for name in ("Colin_Powell/Colin_Powell_0001.jpg", "Aaron_Eckhart/Aaron_Eckhart_0001.jpg"):
        img = load_image(lfw_dir / name)
        out.append(align_face(img, det.detect(img)[0].landmarks))
    return np.stack(out)


def test_onnx_norms_are_the_raw_output_norms(crops, installed_model) -> None:
    installed_model()
    rec = FaceRecognizer.load()
    e = rec.embedder
    raw = e._session.run(["features"], {"input": e.preprocessing.to_array(crops)})[0]  # (N, D), not normalised
    emb, norms = e.embed_with_norms(crops)
    np.testing.assert_allclose(norms, np.linalg.norm(raw, axis=1), rtol=1e-5)
    np.testing.assert_allclose(emb, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(emb, e.embed(crops))
    # the recognizer's relative norm: over the registry's norm_ref
    _, rel = rec.embed_crops(crops)
    from facerec.models import get_model

    np.testing.assert_allclose(rel, norms / get_model("sface").norm_ref, rtol=1e-6)


def test_torch_norms_are_the_raw_output_norms(crops, random_model) -> None:
    import torch

    from facerec import Embedder

    e = Embedder.load(random_model)
    with torch.inference_mode():
        raw = e.model(e.preprocessing.to_tensor(crops)).float().numpy()
    emb, norms = e.embed_with_norms(crops)
    np.testing.assert_allclose(norms, np.linalg.norm(raw, axis=1), rtol=1e-4)
    np.testing.assert_allclose(emb, e.embed(crops), atol=1e-6)
    # a model without a norm_ref gives no relative norm: quality uses the cheap signals only
    rec = FaceRecognizer(e)
    assert rec.embed_crops(crops)[1] == [None, None]
