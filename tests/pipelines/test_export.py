"""ONNX export: onnxruntime's outputs on the exported graph match PyTorch's embedder, for
several batch sizes (dynamic axis), with the preprocessing spec in the metadata."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facerec import Embedder, Preprocessing
from pipelines.cli import main

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("backbone,template", [("mobilefacenet", "arcface_112"), ("sphereface20", "sphereface_112x96")])
def test_onnx_matches_pytorch(tmp_path, backbone, template, capsys):
    import torch

    torch.manual_seed(0)
    emb = Embedder.create(backbone, Preprocessing(template=template), embedding_size=128,
                          metadata={"threshold": 0.42})
    # Non-trivial BatchNorm statistics, so an export that ignored eval mode would differ.
    for m in emb.model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    weights, out = tmp_path / "m.pt", tmp_path / "m.onnx"
    emb.save(weights)
    assert main(["export", "--weights", str(weights), "--format", "onnx", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["facerec.preprocessing"]) == emb.preprocessing.to_dict()
    assert float(meta["facerec.threshold"]) == 0.42 and meta["facerec.fingerprint"] == emb.fingerprint()
    assert meta["facerec.format"] == "1"
    w, h = emb.preprocessing.size
    rng = np.random.default_rng(0)
    for n in (1, 3):
        crops = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
        got = sess.run(["embedding"], {"input": emb.preprocessing.to_tensor(crops).numpy()})[0]
        want = emb.embed(crops)
        assert got.shape == (n, 128)
        np.testing.assert_allclose(got, want, atol=2e-5)


def test_export_errors(tmp_path, capsys):
    assert main(["export", "--weights", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err


def test_metadata_format_version_is_checked(tmp_path):
    """An export of a newer facerec is refused in one line; one from before the version key
    existed (version 0) still reads, through the older keys."""
    from facerec.errors import ModelError
    from facerec.runtime.onnx_runtime import FORMAT_KEY, METADATA_FORMAT, describe_model

    props = {"facerec.preprocessing": json.dumps(Preprocessing().to_dict()), "facerec.embedding_size": "128",
             "facerec.fingerprint": "abcd"}
    assert describe_model(props, "old.onnx")[1:3] == (128, "onnx")  # no version recorded: read as before
    assert describe_model({**props, FORMAT_KEY: str(METADATA_FORMAT)}, "m.onnx")[3] == {"fingerprint": "abcd"}
    with pytest.raises(ModelError, match=f"newer facerec \\(metadata format {METADATA_FORMAT + 1}; this one reads"):
        describe_model({**props, FORMAT_KEY: str(METADATA_FORMAT + 1)}, "new.onnx")
    with pytest.raises(ModelError, match="not a version number"):
        describe_model({**props, FORMAT_KEY: "x"}, "bad.onnx")
