"""The docs a stranger reads run as written: every ``facerec …`` command line in the code blocks
of the README, the pages under ``docs/``, the model and detector cards and the training presets'
comments parses with the real argument parser (``pipelines.cli.build_parser``), and every
repository path they name exists; every relative Markdown link points at a file that exists.

Placeholders are read the way the docs write them: ``[...]`` is optional (dropped), ``{a,b}``
is a choice (the first is taken), ``...`` repeats (dropped), ``# …`` ends a line's command, a
trailing ``\\`` continues it on the next line, ``VAR=value`` before the command is the
environment. A fenced block marked ``text`` holds printed output and is not read for commands.
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from pipelines.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").glob("*.md"))
DOCS = [REPO / "README.md", *PAGES, *sorted((REPO / "facerec" / "models" / "cards").glob("*.md")),
        *sorted((REPO / "pipelines" / "configs").glob("*.toml"))]
#: A path of this repository as the docs name it (not a placeholder, glob or home-relative path).
REPO_PATH = re.compile(r"(?<![\w./~-])((?:facerec|pipelines|benchmarks|tests|losses|docs)/[\w./-]*[\w/])")
#: A relative Markdown link or image: ``[text](target)`` / ``![alt](target)``, target without a scheme.
MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(?:#[^)\s]*)?\)")


def command_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, command) of every ``facerec …`` line: in fenced code blocks of Markdown,
    in comments of TOML presets; continuation lines joined."""
    toml = path.suffix == ".toml"
    out: list[tuple[int, str]] = []
    in_block, output, pending, start = False, False, None, 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if toml:
            m = re.match(r"#\s+(.*)$", raw)
            line = m.group(1).strip() if m else None
        else:
            if raw.strip().startswith("```"):
                # A block marked ```text is printed output, not commands.
                in_block, output = not in_block, raw.strip()[3:].strip() == "text"
                continue
            line = raw.strip() if in_block and not output else None
        if line is None:
            pending = None
            continue
        if pending is not None:
            line, pending = pending + " " + line, None
        else:
            start = number
            line = re.sub(r"^(\w+=\S+\s+)+", "", line)  # environment assignments
            if not line.startswith("facerec "):
                continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        out.append((start, line))
    return out


def argv_of(line: str) -> list[str]:
    """A documented command line → the arguments after ``facerec``."""
    line = re.sub(r"\s+#.*$", "", line)
    while re.search(r"\[[^\[\]]*\]", line):
        line = re.sub(r"\[[^\[\]]*\]", "", line)
    line = re.sub(r"\{([^,{}]+),[^{}]*\}", r"\1", line)
    return [t for t in shlex.split(line)[1:] if t not in ("...", "…")]


CASES = [(p, n, line) for p in DOCS for n, line in command_lines(p)]


def test_the_docs_hold_commands() -> None:
    # The README's quick starts and the docs pages document dozens; a parser change that found
    # none would test nothing.
    assert sum(1 for p, *_ in CASES if p.name == "README.md") >= 30
    assert sum(1 for p, *_ in CASES if p.parent.name == "docs") >= 10
    assert any(p.suffix == ".toml" for p, *_ in CASES)


@pytest.mark.parametrize("path, number, line", CASES, ids=[f"{p.name}:{n}" for p, n, _ in CASES])
def test_documented_command_parses(path: Path, number: int, line: str) -> None:
    argv = argv_of(line)
    if "--help" in argv or "-h" in argv:
        return
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            build_parser().parse_args(argv)
    except SystemExit:
        last = (err.getvalue().strip().splitlines() or ["?"])[-1]
        pytest.fail(f"{path.relative_to(REPO)}:{number}: {line}\n  -> {last}")


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_documented_paths_exist(path: Path) -> None:
    missing = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for m in REPO_PATH.finditer(line):
            name = m.group(1)
            if any(c in name for c in "*{<") or re.search(r"[A-Z]{3,}", name):
                continue  # a glob or a placeholder (NAME, DIR, …)
            if not (REPO / name).exists():
                missing.append(f"{number}: {name}")
    assert not missing, f"{path.relative_to(REPO)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("path", [p for p in DOCS if p.suffix == ".md"], ids=lambda p: p.name)
def test_markdown_links_resolve(path: Path) -> None:
    # Relative links are resolved from the page's own folder, as GitHub renders them.
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    broken = [t for t in MD_LINK.findall(text) if not (path.parent / t).exists()]
    assert not broken, f"{path.relative_to(REPO)} links to files that do not exist: {broken}"


def test_the_readme_links_every_docs_page() -> None:
    # A page nobody links to is a page nobody finds.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert PAGES, "docs/ holds no pages"
    unlinked = [p.name for p in PAGES if f"(docs/{p.name}" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces → ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def test_slug_matches_github() -> None:
    # GitHub's rule, written out by hand for three headings of these docs: backticks, colons,
    # '?', '+', '(' and ',' dropped, each space a '-' (so ' + ' gives '--').
    assert slug("Verify: are two photos the same person?") == "verify-are-two-photos-the-same-person"
    assert slug("Headline: the current default (`sface` + `yunet`)") == "headline-the-current-default-sface--yunet"
    assert slug("Precision: fp32, bf16, auto") == "precision-fp32-bf16-auto"


@pytest.mark.parametrize("path", [p for p in DOCS if p.suffix == ".md"] + [REPO / "benchmarks" / "RESULTS.md"],
                         ids=lambda p: p.name)
def test_markdown_anchors_resolve(path: Path) -> None:
    # ``[text](#anchor)`` and ``[text](page.md#anchor)``: the heading must exist in that page.
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target, anchor in re.findall(r"\]\((?!https?:)([^)\s#]*)#([^)\s]+)\)", text):
        page = (path.parent / target) if target else path
        if page.exists() and anchor not in anchors(page):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"{path.relative_to(REPO)} links to headings that do not exist: {broken}"
