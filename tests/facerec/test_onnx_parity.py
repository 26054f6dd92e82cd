"""The two runtimes hold to the same outputs on real faces (LFW, ORL): MTCNN on onnxruntime +
numpy against facenet-pytorch's MTCNN (the oracle), the ONNX default embedder against the torch
checkpoint it was exported from, and the same model metadata on both paths."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.alignment import align_face
from facerec.io.image import load_image
from facerec.detection.mtcnn_onnx import OnnxMTCNNDetector, area_resize, nms, nms_min
from facerec.models import MODELS
from facerec.recognizer import FaceRecognizer

pytest.importorskip("onnxruntime")

# Several faces (Gloria Macapagal Arroyo's, Serena Williams' photos), profile-ish and small ones.
LFW = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg",
       "Colin_Powell/Colin_Powell_0001.jpg", "Gloria_Macapagal_Arroyo/Gloria_Macapagal_Arroyo_0001.jpg",
       "George_W_Bush/George_W_Bush_0001.jpg", "Tony_Blair/Tony_Blair_0010.jpg",
       "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Jennifer_Aniston/Jennifer_Aniston_0001.jpg"]
ORL = [f"s{k}/{i}.pgm" for k, i in ((1, 1), (5, 3), (12, 7), (23, 2), (31, 9), (40, 10))]


@pytest.fixture(scope="module")
def onnx_mtcnn() -> OnnxMTCNNDetector:
    return OnnxMTCNNDetector()


def _images(lfw_dir, orl_dir) -> list[np.ndarray]:
    imgs = [load_image(lfw_dir / r) for r in LFW] + [load_image(orl_dir / r) for r in ORL]
    # A bigger scene with two faces at different sizes: exercises more pyramid levels.
    a, b = imgs[0], imgs[2]
    scene = np.full((480, 640, 3), 90, np.uint8)
    scene[20:270, 30:280] = a
    scene[300:425, 400:525] = b[::2, ::2]
    return [*imgs, scene]


def test_detections_match_facenet_pytorch(mtcnn, onnx_mtcnn, lfw_dir, orl_dir):
    n_faces = 0
    for img in _images(lfw_dir, orl_dir):
        want, got = mtcnn.detect(img), onnx_mtcnn.detect(img)
        assert len(got) == len(want), ([d.score for d in want], [d.score for d in got])
        for w, g in zip(want, got):
            np.testing.assert_allclose(g.box, w.box, atol=1.0)
            np.testing.assert_allclose(g.landmarks, w.landmarks, atol=1.0)
            assert abs(g.score - w.score) < 1e-3
        n_faces += len(want)
    assert n_faces >= len(LFW) + len(ORL)  # the images do show faces: the comparison is not vacuous


def test_no_face_on_blank(onnx_mtcnn):
    assert onnx_mtcnn.detect(np.full((200, 200, 3), 128, np.uint8)) == []


def test_area_resize_is_torch_area_interpolation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    small, big = (rng.integers(0, 256, s).astype(np.float32) for s in ((37, 53, 3), (1000, 1300, 3)))
    # down, mixed and up (dense averaging matrices); a large image (running sums)
    for img, (oh, ow) in [(small, (24, 24)), (small, (13, 40)), (small, (48, 48)), (small, (37, 53)),
                          (small, (60, 90)), (big, (709, 921))]:
        ref = torch.nn.functional.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None], size=(oh, ow),
                                              mode="area")[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(area_resize(img, oh, ow), ref, atol=1e-3)


def test_nms_matches_torchvision_and_min_variant_by_hand():
    tv = pytest.importorskip("torchvision")
    import torch

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (200, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (200, 2)).astype(np.float32)], axis=1)
    scores = rng.permutation(200).astype(np.float32) / 200  # distinct: the order is defined
    for iou in (0.3, 0.5, 0.7):
        ref = tv.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        np.testing.assert_array_equal(nms(boxes, scores, iou), ref)
    # "Min" overlap: a small box inside a big one overlaps it fully (1.0), its IoU is small.
    two = np.array([[0, 0, 99, 99], [10, 10, 19, 19]], np.float32)
    assert list(nms_min(two, np.array([0.9, 0.8], np.float32), 0.7)) == [0]
    assert list(nms(two, np.array([0.9, 0.8], np.float32), 0.7)) == [0, 1]


@pytest.fixture(scope="module", params=sorted(MODELS))
def both(request, installed_model) -> tuple[FaceRecognizer, FaceRecognizer]:
    """Every named model on both runtimes (fp32)."""
    installed_model(request.param)
    return (FaceRecognizer.load(model=request.param, runtime="onnx"),
            FaceRecognizer.load(model=request.param, runtime="torch"))


def test_embeddings_match_torch(both, onnx_mtcnn, lfw_dir, orl_dir):
    onnx_rec, torch_rec = both
    assert onnx_rec.runtime == "onnx" and torch_rec.runtime == "torch"
    crops = []
    for img in _images(lfw_dir, orl_dir):
        for d in onnx_mtcnn.detect(img):
            crops.append(align_face(img, d.landmarks, onnx_rec.embedder.preprocessing.template))
    crops = np.stack(crops)
    for flip in (False, True):
        got, want = onnx_rec.embedder.embed(crops, flip=flip), torch_rec.embedder.embed(crops, flip=flip)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cos = np.sum(got * want, axis=1)
        assert cos.min() >= 0.9999, cos.min()
    # Distinct faces give distinct embeddings: the agreement is not that of a constant output.
    assert float((got @ got.T)[np.triu_indices(len(got), 1)].min()) < 0.9


def test_same_model_id_and_thresholds_on_both_paths(both):
    onnx_rec, torch_rec = both
    assert onnx_rec.model_id == torch_rec.model_id
    assert onnx_rec.threshold == torch_rec.threshold
    assert onnx_rec.search_threshold == torch_rec.search_threshold
    assert onnx_rec.embedder.preprocessing == torch_rec.embedder.preprocessing
    assert onnx_rec.embedder.embedding_size == torch_rec.embedder.embedding_size


def test_verify_agrees_across_runtimes(both, lfw_dir):
    a, b = lfw_dir / "George_W_Bush/George_W_Bush_0001.jpg", lfw_dir / "George_W_Bush/George_W_Bush_0002.jpg"
    ro, rt = (r.verify(a, b) for r in both)
    assert abs(ro.score - rt.score) < 1e-3 and ro.threshold == rt.threshold


@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if m.packaged])
def test_shipped_onnx_is_exported_from_shipped_pt(name):
    """Fails when a packaged .pt was replaced without `facerec export --default`."""
    from facerec.runtime.embedder import Embedder
    from facerec.runtime.onnx_embedder import OnnxEmbedder

    spec = MODELS[name]
    assert spec.torch_path().is_file() and spec.onnx_path().is_file(), "run: facerec export --default"
    pt = Embedder.load(spec.torch_path())  # checks the recorded fingerprint against the weights
    onnx = OnnxEmbedder(spec.onnx_path())
    assert onnx.fingerprint() == pt.fingerprint() == spec.fingerprint, "stale export: run facerec export --default"
    assert {k: v for k, v in onnx.metadata.items() if k != "fingerprint"} == \
        {k: v for k, v in pt.metadata.items() if k != "fingerprint"}
