"""Identity galleries: enroll people from photos or embeddings, then ask "who is this?".

:class:`Gallery` searches with FAISS in-process and saves to a folder atomically;
:class:`MilvusGallery` offers the same interface on Milvus (an embedded milvus-lite file or
a server URI) and needs ``pymilvus`` (imported on first use).
"""
from __future__ import annotations

from typing import Any

from facerec.gallery.base import (AGGREGATIONS, GalleryBase, GalleryError, IdentityInfo, Match, SearchResult)
from facerec.gallery.faiss_gallery import Gallery, gallery_model
from facerec.gallery.names import MAX_NAME_LENGTH, validate_identity

__all__ = ["AGGREGATIONS", "Gallery", "GalleryBase", "GalleryError", "IdentityInfo", "MAX_NAME_LENGTH", "Match",
           "MilvusGallery", "SearchResult", "gallery_model", "validate_identity"]


def __getattr__(name: str) -> Any:
    # pymilvus is optional and slow to import: load the Milvus backend only when asked for.
    if name == "MilvusGallery":
        from facerec.gallery.milvus_gallery import MilvusGallery
        return MilvusGallery
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
