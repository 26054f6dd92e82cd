"""``pip install facerec`` without the ``[train]`` extra: the inference commands run with torch
unimportable, and the torch commands say in one line which extra to install.

Each test runs the CLI in a fresh interpreter whose import system refuses torch, torchvision and
facenet-pytorch (a meta-path finder raising ``ModuleNotFoundError``, as when they are not
installed), so no torch-less virtual environment is needed. The full check in a fresh venv
built from the wheel is ``.ci/lean_install``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

NO_TORCH = """
import importlib.abc, json, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "facenet_pytorch"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from pipelines.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:  # argparse's --help
    rc = exc.code
print(json.dumps({"rc": rc, "torch": "torch" in sys.modules}), file=sys.stderr)
"""

TORCH_LINE = "needs PyTorch, which is not installed: pip install 'facerec[train]'"


def _run(*args: str) -> tuple[str, list[str], dict]:
    """stdout, stderr lines before the probe's own, and the probe's {"rc", "torch"}."""
    res = subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    lines = res.stderr.strip().splitlines()
    assert lines, res.stderr
    return res.stdout, lines[:-1], json.loads(lines[-1])


def test_verify_runs_without_torch(lfw_dir, installed_model):
    installed_model()
    a = lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"
    b = lfw_dir / "Colin_Powell" / "Colin_Powell_0002.jpg"
    c = lfw_dir / "Tony_Blair" / "Tony_Blair_0001.jpg"
    out, err, probe = _run("verify", str(a), str(b), "--json")
    assert probe == {"rc": 0, "torch": False}, err
    assert json.loads(out)["same"] is True  # two photos of one man
    out, err, probe = _run("verify", str(a), str(c), "--json")
    assert probe == {"rc": 0, "torch": False}, err
    assert json.loads(out)["same"] is False


def test_help_lists_the_torch_commands_with_their_extra():
    out, err, probe = _run("--help")
    assert probe["rc"] == 0 and err == []
    marked = [line.split()[0] for line in out.splitlines() if "(needs PyTorch: pip install 'facerec[train]')" in line]
    assert marked == ["train", "calibrate", "export"]
    assert "verify" in out and "cluster" in out


@pytest.mark.parametrize("args", [("train", "--config", "casia"), ("export", "--default"), ("calibrate", "--help")])
def test_a_torch_command_is_one_line(args):
    out, err, probe = _run(*args)
    assert probe == {"rc": 2, "torch": False}
    assert out == "" and err == [f"error: facerec {args[0]} {TORCH_LINE}"]


def test_the_torch_runtime_is_one_line(aaron):
    _, err, probe = _run("detect", str(aaron), "--detector", "mtcnn", "--runtime", "torch")
    assert probe == {"rc": 2, "torch": False}
    assert err == [f"facerec detect: error: the torch MTCNN detector {TORCH_LINE}"]
