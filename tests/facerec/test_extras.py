"""The one rule for what needs torch (:func:`facerec.extras.require_torch`)."""
from __future__ import annotations

import sys

import pytest

from facerec import FacerecError
from facerec import extras
from facerec.extras import MissingExtra, require_torch


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ModuleNotFoundError('torch')
    with pytest.raises(MissingExtra) as info:
        require_torch("facerec train")
    assert str(info.value) == "facerec train needs PyTorch, which is not installed: pip install 'facerec[train]'"
    assert isinstance(info.value, FacerecError)  # the CLI prints it as one line


def test_a_broken_torch_is_not_called_missing(monkeypatch):
    def broken(name: str):
        raise ImportError("libtorch_cpu.so: cannot open shared object file", name="torch._C")

    monkeypatch.setattr(extras.importlib, "import_module", broken)
    with pytest.raises(ImportError, match="libtorch_cpu"):
        require_torch("facerec train")


def test_pipelines_extras_is_the_same_rule():
    from pipelines import extras as pipeline_extras

    assert pipeline_extras.MissingExtra is MissingExtra and pipeline_extras.require is extras.require


def test_the_package_names_the_extra_for_its_torch_parts(monkeypatch):
    import facerec

    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(facerec.__dict__, "Embedder", raising=False)  # not cached by an earlier lookup
    with pytest.raises(MissingExtra, match=r"^facerec.Embedder needs PyTorch"):
        facerec.Embedder
    assert facerec.OnnxEmbedder.__name__ == "OnnxEmbedder"  # the torch-free parts still load
