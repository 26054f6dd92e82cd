"""Evaluation's detection and embedding caches (:mod:`facerec.io.cache`): keyed by image content,
and missed whenever the model, runtime, precision, input spec or detector settings change."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from facerec import Preprocessing
from pipelines.evaluate.embedding import drop_embedding_caches, embed_image_files


@dataclasses.dataclass(frozen=True)
class _DetCfg:
    max_side: int = 1280


class _Detector:
    def __init__(self, cfg: _DetCfg) -> None:
        self.config, self.calls = cfg, 0

    def detect(self, photo):
        self.calls += 1
        return []  # the centre-crop fallback


class _Embedder:
    """Embeds a crop as a unit vector of its mean pixel: any real change shows in the output."""

    embedding_size = 4

    def __init__(self, fingerprint: str = "f1", precision: str = "fp32", mean: float = 0.5) -> None:
        self.fp, self.precision, self.calls = fingerprint, precision, 0
        self.preprocessing = Preprocessing(mean=(mean,) * 3)

    def fingerprint(self) -> str:
        return self.fp

    def embed(self, crops, batch_size=64, flip=False):
        self.calls += len(crops)
        v = np.stack([np.r_[c.mean(axis=(0, 1)), 1.0] for c in crops]).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _recognizer(embedder: _Embedder, detector: _Detector) -> SimpleNamespace:
    return SimpleNamespace(embedder=embedder, detector=detector, frontalize=False,
                           crop=lambda photo, lm: photo.at_scale(1.0)[0][:8, :8])  # (8, 8, 3) of the image


def test_content_hits_under_another_path_and_every_setting_misses(tmp_path: Path):
    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), np.uint8)).save(img)
    cache = tmp_path / "cache"
    det, emb = _Detector(_DetCfg()), _Embedder()
    first = embed_image_files(_recognizer(emb, det), [img], cache_dir=cache, progress=False)
    assert (det.calls, emb.calls) == (1, 1)
    copy = tmp_path / "sub" / "b.png"
    copy.parent.mkdir()
    shutil.copyfile(img, copy)
    again = embed_image_files(_recognizer(emb, det), [copy], cache_dir=cache, progress=False)
    assert (det.calls, emb.calls) == (1, 1)  # the same bytes elsewhere: both caches hit
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    # Each change of what makes the embedding: embedded again (detections reused unless the detector changed).
    for changed in (_Embedder("f2"), _Embedder(precision="bf16"), _Embedder(mean=0.0)):
        embed_image_files(_recognizer(changed, det), [copy], cache_dir=cache, progress=False)
        assert changed.calls == 1 and det.calls == 1
    other_det = _Detector(_DetCfg(max_side=640))
    embed_image_files(_recognizer(emb, other_det), [copy], cache_dir=cache, progress=False)
    assert other_det.calls == 1 and emb.calls == 2
    embed_image_files(_recognizer(emb, det), [img], flip=True, cache_dir=cache, progress=False)
    assert emb.calls == 3  # flip TTA is another embedding


def test_dropping_one_models_embeddings_keeps_the_others(tmp_path: Path):
    """Training's validation drops the cache of the state it evaluated, nothing else."""
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(img)
    det, mine, other = _Detector(_DetCfg()), _Embedder("aaaa"), _Embedder("bbbb")
    for e in (mine, other):
        embed_image_files(_recognizer(e, det), [img], cache_dir=tmp_path / "c", progress=False)
        embed_image_files(_recognizer(e, det), [img], flip=True, cache_dir=tmp_path / "c", progress=False)
    assert drop_embedding_caches(mine, tmp_path / "c") == 2
    left = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "c").glob("*.sqlite"))
    assert left == ["detect", "embed-bbbb", "embed-bbbb"]
    embed_image_files(_recognizer(mine, det), [img], cache_dir=tmp_path / "c", progress=False)
    assert mine.calls == 3 and det.calls == 1  # re-embedded; the detection stayed
