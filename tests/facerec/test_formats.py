"""Every versioned file facerec writes refuses a newer version in one clear line (the caches,
events, ONNX metadata, clusters.json and Milvus galleries are tested beside their code)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facerec import Embedder, ModelError
from facerec.gallery import Gallery
from facerec.gallery.base import GalleryError
from facerec.gallery.faiss_gallery import FORMAT_VERSION
from facerec.gallery.storage import current_version


def test_a_gallery_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    g = Gallery(model_id="model-A")
    g.enroll("Ada", np.eye(1, 8, dtype=np.float32))
    g.save(tmp_path / "g")
    meta_path = current_version(tmp_path / "g") / "gallery.json"
    meta = json.loads(meta_path.read_text())
    assert meta["version"] == FORMAT_VERSION
    meta_path.write_text(json.dumps({**meta, "version": FORMAT_VERSION + 1}))
    with pytest.raises(GalleryError, match=f"gallery format {FORMAT_VERSION + 1} is newer than this facerec supports"):
        Gallery.load(tmp_path / "g")


def test_an_embedder_checkpoint_of_a_newer_format_is_refused() -> None:
    torch.manual_seed(0)
    state = Embedder.create("mobilefacenet", embedding_size=16).state()
    assert Embedder.from_state(state).embedding_size == 16
    with pytest.raises(ModelError, match="checkpoint version 2 is newer than this facerec supports"):
        Embedder.from_state({**state, "version": state["version"] + 1})
