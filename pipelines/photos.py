"""Walking photo folders: the one rule for which files and sub-folders a command reads.

Hidden files and folders (name starting with ".") are skipped, symbolic links followed, and
everything sorted, so a run is reproducible. ``prepare``, ``enroll --folders``, ``cluster``,
training data and the LFW identification split all read folders through here.
"""
from __future__ import annotations

import os
from pathlib import Path

#: What counts as a photo when a folder is walked (a file named explicitly is always tried).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".gif",
                            ".webp", ".tif", ".tiff"})


def _visible(name: str) -> bool:
    return not name.startswith(".")


def is_image_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_files(src: str | os.PathLike) -> list[str]:
    """Relative POSIX paths of every regular, non-hidden file under ``src`` (recursively), sorted."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: not a directory")
    out = []
    for root, dirs, files in os.walk(src, followlinks=True):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        out += [(Path(root) / f).relative_to(src).as_posix() for f in files if _visible(f)]
    return sorted(out)


def list_images(src: str | os.PathLike) -> list[Path]:
    """Every photo (by :data:`IMAGE_SUFFIXES`) under ``src``, recursively, sorted."""
    return [Path(src) / rel for rel in list_files(src) if is_image_name(rel)]


def identity_folders(root: str | os.PathLike, images_only: bool = True) -> list[tuple[Path, list[Path]]]:
    """``root/<identity>/<file>``: each non-hidden sub-folder (sorted) with its non-hidden files
    (sorted; only photos with ``images_only``). One identity per folder; files directly inside."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p.name)):
        files = sorted(f for f in d.iterdir() if f.is_file() and _visible(f.name)
                       and (not images_only or is_image_name(f)))
        out.append((d, files))
    return out
