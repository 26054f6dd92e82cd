"""The workflow behind ``facerec gallery list|remove`` (its command line: :mod:`pipelines.cli.gallery`):
Inspect and edit a gallery folder (no model needed)."""
from __future__ import annotations

from facerec.gallery import Gallery, GalleryError
from facerec.gallery.storage import current_version, gallery_write_lock


def list_gallery(directory: str) -> dict[str, object]:
    """The gallery's model, index and identities (with template counts and metadata)."""
    g = Gallery.load(directory)
    return {"gallery": directory, "model": g.model_name, "model_id": g.model_id, "dim": g.dim, "index": g.index_type,
            "aggregation": g.aggregation, "threshold": g.threshold, "identities": len(g),
            "templates": g.num_templates, "people": [g.info(n).to_dict() for n in g.identities()]}


def remove_identity(directory: str, name: str) -> int:
    """Delete ``name`` from the saved gallery (atomically, under its write lock: no concurrent
    writer's update is lost); returns the templates removed."""
    if current_version(directory) is None:  # before the lock, which would create the folder
        raise GalleryError(f"{directory}: no saved gallery here")
    with gallery_write_lock(directory):
        g = Gallery.load(directory)
        if name not in g:
            raise ValueError(f"no identity {name!r} in {directory}")
        n = g.info(name).num_templates
        g.remove(name)
        g.save(directory)
    return n
