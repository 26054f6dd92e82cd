"""Embedder: preprocessing formula, unit outputs, flip TTA, checkpoint round trip, refusals."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from facerec import Embedder, ModelError, Preprocessing
from facerec.alignment import align_face
from facerec.io.image import load_image


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    torch.manual_seed(0)
    return Embedder.create("mobilefacenet", metadata={"threshold": 0.3})


@pytest.fixture(scope="module")
def crops(lfw_dir, mtcnn) -> np.ndarray:
    out = []
    for rel in ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg"]:
        img = load_image(lfw_dir / rel)
        out.append(align_face(img, mtcnn.detect(img)[0].landmarks))
    return np.stack(out)


def test_preprocessing_formula(crops):
    pre = Preprocessing(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.2))
    x = pre.to_tensor(crops).numpy()
    # Written out independently: NHWC uint8 → NCHW, (v/255 − mean)/std per channel.
    ref = (crops.astype(np.float64) / 255.0 - np.array([0.1, 0.2, 0.3])) / np.array([0.5, 0.25, 0.2])
    np.testing.assert_allclose(x, ref.transpose(0, 3, 1, 2), atol=1e-5)
    with pytest.raises(ValueError):
        pre.to_tensor(crops[:, :100])


def test_embeddings_are_unit_and_batch_invariant(embedder, crops):
    e = embedder.embed(crops)
    assert e.shape == (2, 512) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([embedder.embed(crops[i:i + 1]) for i in range(2)])
    np.testing.assert_allclose(one_by_one, e, atol=1e-5)
    assert embedder.embed([]).shape == (0, 512)


def test_flip_tta_is_sum_of_both_views(embedder, crops):
    x = embedder.preprocessing.to_tensor(crops)
    with torch.inference_mode():
        raw = embedder.model(x) + embedder.model(torch.flip(x, dims=[3]))
    ref = torch.nn.functional.normalize(raw, dim=1).numpy()
    np.testing.assert_allclose(embedder.embed(crops, flip=True), ref, atol=1e-5)


def test_save_load_identical(embedder, crops, tmp_path):
    p = tmp_path / "m.pt"
    embedder.save(p)
    loaded = Embedder.load(p)
    np.testing.assert_array_equal(loaded.embed(crops), embedder.embed(crops))
    assert loaded.backbone_name == "mobilefacenet" and loaded.metadata["threshold"] == 0.3
    assert loaded.preprocessing == embedder.preprocessing
    assert loaded.fingerprint() == embedder.fingerprint()


def test_fingerprint_changes_with_weights(tmp_path):
    torch.manual_seed(1)
    a = Embedder.create("mobilefacenet")
    torch.manual_seed(2)
    b = Embedder.create("mobilefacenet")
    assert a.fingerprint() != b.fingerprint()


def test_bf16_agrees_with_fp32(tmp_path, embedder, crops):
    p = tmp_path / "m.pt"
    embedder.save(p)
    bf = Embedder.load(p, precision="bf16").embed(crops)
    assert (np.sum(bf * embedder.embed(crops), axis=1) > 0.98).all()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"format": "facerec.embedder", "payload": _Evil()}, p)
    with pytest.raises(ModelError, match="cannot load"):
        Embedder.load(p)
    p2 = tmp_path / "evil.pkl"
    p2.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(ModelError):
        Embedder.load(p2)


def test_corrupt_missing_and_foreign_checkpoints(tmp_path, embedder):
    with pytest.raises(ModelError, match="no such model"):
        Embedder.load(tmp_path / "missing.pt")
    p = tmp_path / "m.pt"
    embedder.save(p)
    data = p.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError):
        Embedder.load(tmp_path / "trunc.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(ModelError, match="not a facerec"):
        Embedder.load(tmp_path / "foreign.pt")
    state = embedder.state()
    state["backbone"] = "iresnet18"  # weights do not fit the named backbone
    torch.save(state, tmp_path / "mismatch.pt")
    with pytest.raises(ModelError, match="incompatible"):
        Embedder.load(tmp_path / "mismatch.pt")
