"""Optional parts of the install, and the one rule for what needs torch.

``pip install facerec`` is the inference set (onnxruntime, OpenCV, NumPy, FAISS, …): every named
model runs on it without torch. PyTorch comes with ``pip install 'facerec[train]'``: training,
export, ``.pt`` checkpoints, ``--runtime torch`` and the torch MTCNN. Other extras: ``serve``
(the HTTP service), ``plot`` (ROC and training-curve images).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from facerec.errors import FacerecError

#: What installs PyTorch (named by every "needs PyTorch" error).
TORCH_INSTALL = "pip install 'facerec[train]'"


class MissingExtra(FacerecError):
    """An optional dependency is not installed (the CLI prints this as one line)."""


def require(extra: str, module: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{exc.name or module} is not installed: pip install 'facerec[{extra}]'") from None


def require_torch(what: str) -> ModuleType:
    """``torch``, or :class:`MissingExtra` saying that ``what`` (e.g. ``"facerec train"``) needs
    PyTorch and how to install it. A torch that is installed but fails to import is not hidden."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        if exc.name != "torch":  # torch is there but broken (e.g. torch._C): say that, not "install"
            raise
        raise MissingExtra(f"{what} needs PyTorch, which is not installed: {TORCH_INSTALL}") from None
