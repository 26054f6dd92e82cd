"""Optional parts of the install: ``pip install 'facerec[serve]'`` (the HTTP service) and
``'facerec[plot]'`` (ROC and training-curve images). The inference library needs neither."""
from __future__ import annotations

import importlib
from types import ModuleType

from facerec.errors import FacerecError


class MissingExtra(FacerecError):
    """An optional dependency is not installed (the CLI prints this as one line)."""


def require(extra: str, module: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{exc.name or module} is not installed: pip install 'facerec[{extra}]'") from None
