"""facerec.io.atomic: the one durability rule (temp beside the target, fsync, replace, fsync dir)."""
from __future__ import annotations

import os

import pytest

from facerec.io import atomic
from facerec.io.atomic import atomic_path, atomic_write, atomic_write_text


def test_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    with atomic_write(target) as f:
        f.write(b"first")
    with atomic_write(target) as f:
        f.write(b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as f:
            f.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_fsyncs_file_then_folder(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(atomic, "fsync_file", lambda p: calls.append(("file", os.path.dirname(p))))
    monkeypatch.setattr(atomic, "fsync_dir", lambda p: calls.append(("dir", str(p))))
    with atomic_path(tmp_path / "x.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".x.png.")
        tmp.write_bytes(b"png")
    assert calls == [("file", str(tmp_path)), ("dir", str(tmp_path))]
    assert (tmp_path / "x.png").read_bytes() == b"png"


def test_text_is_utf8(tmp_path):
    atomic_write_text(tmp_path / "t", "ü€")
    assert (tmp_path / "t").read_bytes() == "ü€".encode("utf-8")


def test_rejects_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "t", "a"):
            pass
