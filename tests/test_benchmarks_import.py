"""Every benchmark module imports with the test extras installed (optional libraries such as
dlib are imported inside the functions that need them), so an API change that breaks a
benchmark fails here rather than when someone next runs it."""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import benchmarks

MODULES = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_module_imports(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(getattr(module, "main", None)) or name in ("video_clips", "machine"), f"{name} has no main()"
