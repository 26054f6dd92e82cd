"""`facerec serve`'s parts without a model: the CLI's key tools and argument errors, the keys
file, the gallery-name guard and the readers-writer lock."""
from __future__ import annotations

import hashlib
import io
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.serve.auth import hash_key, key_matches, load_key_hashes
from pipelines.serve.galleries import GALLERY_NAME, RWLock


def test_cli_hash_key_and_new_key(capsys, monkeypatch) -> None:
    assert cli.main(["serve", "--hash-key", "s3cret-key"]) == 0
    assert capsys.readouterr().out.strip() == hashlib.sha256(b"s3cret-key").hexdigest()
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    assert cli.main(["serve", "--hash-key", "-"]) == 0
    assert capsys.readouterr().out.strip() == hashlib.sha256(b"from-stdin").hexdigest()
    assert cli.main(["serve", "--new-key"]) == 0
    out = dict(line.split(": ", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert len(out["key"].strip()) >= 40
    assert out["line"].strip() == hashlib.sha256(out["key"].strip().encode()).hexdigest()


def test_cli_argument_errors_are_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "keys.txt"
    bad.write_text("# comment\n" + "a" * 64 + "\nnot-a-hash\n")
    good = tmp_path / "good.txt"
    good.write_text("a" * 64 + "\n")
    cases = [
        (["serve"], "--gallery"),
        (["serve", "--gallery", str(tmp_path), "--api-keys", str(bad)], "keys.txt:3"),
        (["serve", "--gallery", str(tmp_path), "--api-keys", str(tmp_path / "none.txt")], "none.txt"),
        (["serve", "--gallery", str(tmp_path), "--no-auth", "--api-keys", str(good)], "not both"),
        (["serve", "--gallery", str(tmp_path), "--workers", "0"], "--workers"),
    ]
    for argv, needle in cases:
        capsys.readouterr()
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err


def test_keys_file_and_matching(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"\n# staff\n{hash_key('alpha').upper()}  # upper-case is fine\n{hash_key('beta')}\n")
    hashes = load_key_hashes(path)
    assert hashes == {hashlib.sha256(b"alpha").hexdigest(), hashlib.sha256(b"beta").hexdigest()}
    assert key_matches("alpha", hashes) and key_matches("beta", hashes)
    assert not key_matches("gamma", hashes) and not key_matches("", hashes) and not key_matches(None, hashes)
    assert not key_matches(hash_key("alpha"), hashes)  # the hash itself is not a key
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no API key"):
        load_key_hashes(empty)


@pytest.mark.parametrize("name,ok", [("people", True), ("a-b_C9", True), ("x" * 64, True), ("x" * 65, False),
                                     ("", False), ("..", False), ("a/b", False), ("a b", False), ("é", False),
                                     ("a\n", False)])
def test_gallery_names(name: str, ok: bool) -> None:
    assert bool(GALLERY_NAME.fullmatch(name)) is ok


def test_rwlock_readers_share_writers_exclude() -> None:
    lock = RWLock()
    state = {"readers": 0, "max_readers": 0, "writer": False, "overlap": False}
    guard = threading.Lock()

    def reader() -> None:
        with lock.read():
            with guard:
                state["readers"] += 1
                state["max_readers"] = max(state["max_readers"], state["readers"])
                state["overlap"] |= state["writer"]
            time.sleep(0.05)
            with guard:
                state["readers"] -= 1

    def writer() -> None:
        with lock.write():
            with guard:
                state["writer"] = True
                state["overlap"] |= state["readers"] > 0
            time.sleep(0.05)
            with guard:
                state["writer"] = False

    threads = [threading.Thread(target=f) for f in (reader, reader, reader, writer, reader, writer, reader)]
    for t in threads:
        t.start()
        time.sleep(0.005)
    for t in threads:
        t.join(timeout=10)
    assert not state["overlap"] and state["max_readers"] >= 2


def test_missing_serve_extra_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    """Without the web server installed (`pip install facerec` alone), `facerec serve` says
    what to install in one line, before loading any model."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    assert cli.main(["serve", "--gallery", str(tmp_path), "--no-auth"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "facerec serve: error: uvicorn is not installed: pip install 'facerec[serve]'"
