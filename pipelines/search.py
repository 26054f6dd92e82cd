"""The workflow behind ``facerec search --gallery DIR IMG`` (its command line: :mod:`pipelines.cli.search`):
Who are the people in this photo?"""
from __future__ import annotations

import os

from facerec.gallery import Gallery, SearchResult


def search_image(gallery: Gallery, image: str | os.PathLike, k: int = 5,
                 threshold: float | None = None) -> list[SearchResult]:
    """Every face in ``image`` against ``gallery``: per face its detection, up to ``k``
    ranked identities and the open-set decision (``identity`` None = unknown)."""
    return gallery.search(os.fspath(image), k=k, threshold=threshold)
