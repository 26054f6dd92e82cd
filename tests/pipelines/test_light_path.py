"""The light inference path: the CLI with the shipped model never imports torch, and the torch
path without facenet-pytorch says in one line what to install."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs the CLI in a fresh interpreter, then reports which heavy modules it imported.
PROBE = """
import json, sys
from pipelines.cli import main
rc = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "torchvision", "facenet_pytorch") if m in sys.modules)
print(json.dumps({"rc": rc, "heavy": heavy}), file=sys.stderr)
"""


def _probe(*args: str, prelude: str = "") -> tuple[str, dict]:
    res = subprocess.run([sys.executable, "-c", prelude + PROBE, *args], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    return res.stdout, json.loads(res.stderr.strip().splitlines()[-1])


def test_verify_with_the_default_model_imports_no_torch(lfw_dir, installed_model):
    installed_model()
    a = lfw_dir / "George_W_Bush" / "George_W_Bush_0001.jpg"
    b = lfw_dir / "George_W_Bush" / "George_W_Bush_0002.jpg"
    out, info = _probe("verify", str(a), str(b), "--json")
    assert info == {"rc": 0, "heavy": []}
    doc = json.loads(out)
    assert set(doc) == {"same", "score", "threshold", "quality"} and doc["same"] is True  # two photos of one man
    # (the torch path's answer on the same pair: tests/facerec/test_onnx_parity.py, in-process)


def test_detect_imports_no_torch(aaron):
    out, info = _probe("detect", str(aaron), "--json")
    assert info == {"rc": 0, "heavy": []}
    assert len(json.loads(out)["faces"]) == 1


@pytest.mark.parametrize("model", ["sface", "facerec-mbf-v2"])
def test_enroll_and_search_import_no_torch(orl_dir, tmp_path, installed_model, model):
    installed_model(model)  # every named model has the torch-free path
    gallery = str(tmp_path / "g")
    _, info = _probe("enroll", "--gallery", gallery, "s1", str(orl_dir / "s1" / "1.pgm"), str(orl_dir / "s1" / "2.pgm"),
                     "--model", model)
    assert info == {"rc": 0, "heavy": []}
    out, info = _probe("search", "--gallery", gallery, str(orl_dir / "s1" / "3.pgm"), "--json")
    assert info == {"rc": 0, "heavy": []}
    (face,) = json.loads(out)["faces"]
    assert face["matches"][0]["identity"] == "s1"


def test_missing_facenet_pytorch_is_one_line(aaron):
    # sys.modules[name] = None makes `import facenet_pytorch` raise ImportError, as when not installed.
    res = subprocess.run([sys.executable, "-c", "import sys; sys.modules['facenet_pytorch'] = None\n"
                          "from pipelines.cli import main; sys.exit(main(sys.argv[1:]))",
                          "detect", str(aaron), "--detector", "mtcnn", "--runtime", "torch"], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "pip install --no-deps facenet-pytorch==2.6.0" in err


def test_runtime_rules(tmp_path, random_model, monkeypatch):
    from facerec import ModelError
    from facerec.models import get_model
    from facerec.recognizer import choose_runtime

    monkeypatch.delenv("FACEREC_MODEL", raising=False)
    assert choose_runtime(random_model)[0] == "torch"
    assert choose_runtime(tmp_path / "m.onnx")[0] == "onnx"
    assert choose_runtime(tmp_path / "m.onnx", "torch")[0] == "torch"  # run as torch ops
    with pytest.raises(ModelError, match="runs on torch"):
        choose_runtime(random_model, "onnx")
    with pytest.raises(ModelError, match="not both"):
        choose_runtime(random_model, model="sface")
    v2 = get_model("facerec-mbf-v2")
    assert choose_runtime(model=v2.name) == ("onnx", v2.onnx_path())
    assert choose_runtime(model=v2.name, runtime="torch") == ("torch", v2.torch_path())
    if get_model().installed():
        assert choose_runtime() == ("onnx", get_model().onnx_path())
        assert choose_runtime(precision="bf16")[0] == "torch"
        assert choose_runtime(device="cuda")[0] == "torch"
        assert choose_runtime(runtime="torch")[0] == "torch"
