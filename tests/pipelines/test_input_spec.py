"""One ONNX input spec (:class:`facerec.runtime.preprocessing.InputSpec`): one set of defaults for the
registry, ``[model] init_*`` and ``[distill]``, and one conversion whatever runs the graph.

Oracles: ``(pixel·scale − mean) / std`` in the stated channel order written out here with
numpy; onnxruntime on the raw graph fed with that formula's tensor."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.models import get_model
from facerec.runtime.preprocessing import InputSpec, Preprocessing
from pipelines.training.config import DistillConfig, ModelConfig, load_config

SPECS = [InputSpec(), InputSpec(color="bgr", scale=1.0, mean=(127.5, 120.0, 100.0), std=(128.0, 64.0, 32.0)),
         InputSpec(color="rgb", scale=1.0, mean=(127.5,) * 3, std=(127.5,) * 3)]


def _formula(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB → (N, 3, H, W) float64, written from the spec's definition."""
    x = crops.astype(np.float64)
    if spec.color == "bgr":
        x = x[..., [2, 1, 0]]
    x = (x * spec.scale - np.array(spec.mean)) / np.array(spec.std)
    return x.transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)


@pytest.mark.parametrize("spec", SPECS, ids=["default", "bgr", "rgb-127.5"])
def test_the_conversion_is_the_formula_in_the_stated_colour_order(spec, crops):
    got = spec.preprocessing().to_array(crops)
    assert got.dtype == np.float32 and got.shape == (3, 3, 112, 112)
    np.testing.assert_allclose(got, _formula(crops, spec), rtol=1e-5, atol=1e-5)
    # the torch path is the same array
    assert np.array_equal(spec.preprocessing().to_tensor(crops).numpy(), got)


def test_preprocessing_files_without_colour_read_back_as_rgb():
    rgb = InputSpec().preprocessing()
    assert "color" not in rgb.to_dict() and Preprocessing.from_dict(rgb.to_dict()) == rgb
    bgr = SPECS[1].preprocessing()
    assert bgr.to_dict()["color"] == "bgr" and Preprocessing.from_dict(bgr.to_dict()) == bgr
    with pytest.raises(ValueError, match="color"):
        InputSpec(color="rgba")


def test_the_defaults_live_in_one_place():
    assert ModelConfig().init_spec("arcface_112") == InputSpec()
    assert DistillConfig().input_spec() == InputSpec()
    sface = get_model("sface").input_spec
    assert sface.template == get_model("sface").template and sface.scale == 1.0
    cfg = load_config(None, ["model.init_color='bgr'", "model.init_scale=1.0", "distill.color='bgr'"])
    assert cfg.model.init_spec(cfg.data.template).color == "bgr" and cfg.distill.input_spec().color == "bgr"
    with pytest.raises(ValueError, match="model.init_"):
        load_config(None, ["model.init_std=[1.0, 0.0, 1.0]"])
    with pytest.raises(ValueError, match="distill"):
        load_config(None, ["distill.color='gbr'"])


def test_both_teacher_runtimes_and_the_init_model_take_a_bgr_graph_alike(crops, tmp_path):
    """The same BGR graph as a torch teacher, an onnxruntime teacher and ``model.init``: the
    same embeddings, equal to onnxruntime on the raw graph fed with the formula's tensor."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from train_helpers import tiny_onnx_embedder

    from pipelines.training.pretrained import load_pretrained, resolve_init
    from pipelines.training.teacher import load_teacher

    path = tiny_onnx_embedder(tmp_path / "bgr.onnx", batch_dim=False)  # batch 1, as upstream files often are
    spec = SPECS[1]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = np.concatenate([sess.run(None, {"x": x[None].astype(np.float32)})[0] for x in _formula(crops, spec)])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    d = DistillConfig(teacher=str(path), color="bgr", scale=spec.scale, mean=spec.mean, std=spec.std, precision="fp32")
    for runtime in ("torch", "onnxruntime"):
        got = load_teacher(DistillConfig(**{**d.__dict__, "runtime": runtime})).embed(crops)
        np.testing.assert_allclose(got, ref, atol=1e-5, err_msg=runtime)
    m = ModelConfig(init=str(path), init_color="bgr", init_scale=spec.scale, init_mean=spec.mean, init_std=spec.std)
    src = resolve_init(m, "arcface_112")
    np.testing.assert_allclose(load_pretrained(src, "arcface_112").embed(crops), ref, atol=1e-5)
    # the colour order is part of the model's identity (teacher-cache key)
    assert resolve_init(ModelConfig(**{**m.__dict__, "init_color": "rgb"}), "arcface_112").sha256 != src.sha256
