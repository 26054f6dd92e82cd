"""The layers hold: benchmarks -> pipelines -> {facerec, losses}. ``facerec/`` and ``losses/``
never import ``pipelines`` or ``benchmarks``, and ``losses/`` (pure torch) imports nothing
from ``facerec``. Read from the source with ``ast`` (every import statement, also the ones
inside functions), so a lazy import cannot hide an upward edge."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package -> top-level packages of this project it must never import.
FORBIDDEN = {"facerec": {"pipelines", "benchmarks"}, "losses": {"pipelines", "benchmarks", "facerec"}}


def imported_packages(path: Path, root: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every import in ``path`` (a module under ``root``);
    relative imports are resolved against the module's own package path."""
    module_parts = path.relative_to(root).with_suffix("").parts
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = module_parts[: len(module_parts) - node.level] if node.level else ()
            parts = [*base, *(node.module or "").split(".")]
            out.add((node.lineno, next(p for p in parts if p)))
    return out


def upward_imports(package: str, root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        for line, top in sorted(imported_packages(path, root)):
            if top in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(root)}:{line} imports {top}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package: str) -> None:
    assert upward_imports(package) == []


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The parser itself, on a planted module: an import inside a function and a relative
    import that climbs out of the package are both found; plain and inner imports are not."""
    pkg = tmp_path / "losses" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "m.py").write_text("import numpy\nfrom . import sibling\nfrom ..margin import Margin\n\n"
                              "def f():\n    import pipelines.cli\n\nfrom ...facerec import x\n")
    assert upward_imports("losses", tmp_path) == ["losses/sub/m.py:6 imports pipelines",
                                                  "losses/sub/m.py:8 imports facerec"]
