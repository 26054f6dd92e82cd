"""FaceRecognizer on real images with a random-weight model (plumbing, not accuracy)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facerec import FaceRecognizer, ModelError, MultipleFacesError, NoFaceError, cosine_similarity


@pytest.fixture(scope="module")
def rec(random_model, mtcnn) -> FaceRecognizer:
    return FaceRecognizer(FaceRecognizer.load(random_model).embedder, mtcnn)


def test_inputs_path_pil_array_agree(rec, aaron):
    e_path = rec.embed(aaron)
    e_pil = rec.embed(Image.open(aaron))
    e_arr = rec.embed(np.asarray(Image.open(aaron).convert("RGB")))
    assert e_path.shape == (1, 512)
    np.testing.assert_allclose(e_pil, e_path, atol=1e-6)
    np.testing.assert_allclose(e_arr, e_path, atol=1e-6)


def test_verify_same_image_scores_one(rec, aaron):
    res = rec.verify(aaron, aaron)
    assert res.same and abs(res.score - 1.0) < 1e-5 and res.threshold == 0.5
    a, b = (f.quality.to_dict() for f in res.faces)
    assert a == b  # one photo: one quality
    assert res.to_dict() == {"same": True, "score": res.score, "threshold": 0.5, "quality": {"a": a, "b": b}}


def test_verify_score_is_cosine_of_embeddings(rec, aaron, lfw_dir):
    other = lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"
    res = rec.verify(aaron, other, threshold=0.99)
    ref = float(cosine_similarity(rec.embed(aaron)[0], rec.embed(other)[0]))
    assert abs(res.score - ref) < 1e-6 and res.same == (ref >= 0.99)


def test_no_face_and_many_faces(rec, aaron):
    blank = np.full((120, 120, 3), 127, np.uint8)
    with pytest.raises(NoFaceError):
        rec.face(blank)
    fb = rec.face(np.full((250, 250, 3), 127, np.uint8), fallback_center=True)
    assert fb.detection.score == 0.0 and fb.crop.shape == (112, 112, 3)
    face = np.asarray(Image.open(aaron).convert("RGB"))
    two = np.concatenate([face, face[:, ::-1]], axis=1)  # two people side by side
    assert len(rec.detect(two)) == 2
    with pytest.raises(MultipleFacesError):
        rec.face(two, select="only")
    assert rec.face(two).embedding.shape == (512,)


def test_unknown_or_missing_model_is_a_clear_error(monkeypatch, tmp_path):
    from facerec.models import ModelNotInstalled

    monkeypatch.setenv("FACEREC_MODEL", "no-such-model")
    with pytest.raises(ModelError, match="unknown model 'no-such-model'; known models: sface, facerec-mbf-v2"):
        FaceRecognizer.load()
    monkeypatch.setenv("FACEREC_MODEL", "sface")
    monkeypatch.setenv("FACEREC_MODELS_DIR", str(tmp_path))  # nothing installed there
    with pytest.raises(ModelNotInstalled, match="run 'facerec models fetch sface'"):
        FaceRecognizer.load()


def test_threshold_required_when_model_has_none(tmp_path, mtcnn):
    from facerec import Embedder

    e = Embedder.create("mobilefacenet")
    with pytest.raises(ModelError, match="threshold"):
        _ = FaceRecognizer(e, mtcnn).threshold


def test_search_threshold_from_metadata_else_verification_threshold() -> None:
    from facerec.runtime.embedder import Embedder
    from facerec.recognizer import FaceRecognizer

    emb = Embedder.create("mobilefacenet", embedding_size=32)
    rec = FaceRecognizer(emb, detector=object(), threshold=0.3)  # type: ignore[arg-type]
    assert rec.search_threshold == 0.3  # no calibrated search threshold: the verification one
    emb.metadata["search_threshold"] = 0.55
    assert rec.search_threshold == 0.55
    assert FaceRecognizer(Embedder.create("mobilefacenet", embedding_size=32),
                          detector=object()).search_threshold is None  # type: ignore[arg-type]
