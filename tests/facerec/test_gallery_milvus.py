"""The Milvus backend (embedded milvus-lite) against the FAISS gallery on the same data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facerec import ModelError

pytest.importorskip("pymilvus", reason="pymilvus not installed (pip install pymilvus milvus-lite)")
pytest.importorskip("milvus_lite", reason="milvus-lite not installed (pip install milvus-lite); "
                                          "a Milvus server works too: MilvusGallery('http://host:19530')")

from facerec.gallery import Gallery, MilvusGallery  # noqa: E402

D = 32
NAMES = ["Ada", 'quote"d', "back\\slash", "x' or 1==1", "Zoë/..", "张伟"]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    names = NAMES + [f"p{i}" for i in range(34)]
    centres = unit(rng.standard_normal((len(names), D)))
    templates = unit(centres[:, None] + 0.15 * rng.standard_normal((len(names), 3, D)))
    queries = unit(rng.standard_normal((20, D)))
    return names, templates, queries


def as_lists(results) -> list[list[tuple[str, float]]]:
    return [[(m.identity, m.score) for m in r.matches] for r in results]


@pytest.mark.parametrize("aggregation", ["max", "mean"])
def test_milvus_equals_faiss(tmp_path: Path, data, aggregation: str) -> None:
    names, t, q = data
    mg = MilvusGallery(str(tmp_path / "g.db"), aggregation=aggregation, model_id="model-A", threshold=0.2)
    fg = Gallery(aggregation=aggregation, model_id="model-A", threshold=0.2)
    for n, v in zip(names, t):
        mg.enroll(n, v[:2], metadata={"n": n})
        fg.enroll(n, v[:2], metadata={"n": n})
        mg.enroll(n, v[2])  # appending recomputes the mean row
        fg.enroll(n, v[2])
    assert mg.identities() == fg.identities() == names and len(mg) == len(names)
    assert mg.num_templates == fg.num_templates == 3 * len(names)
    for a, b in zip(as_lists(mg.search(q, k=5)), as_lists(fg.search(q, k=5))):
        assert [n for n, _ in a] == [n for n, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-5)
    assert [r.identity for r in mg.search(q, k=1)] == [r.identity for r in fg.search(q, k=1)]
    assert mg.info('quote"d') == fg.info('quote"d')
    mg.close()


def test_milvus_remove_update_and_reopen(tmp_path: Path, data) -> None:
    names, t, q = data
    uri = str(tmp_path / "g.db")
    with MilvusGallery(uri, collection="people", model_id="model-A") as g:
        g.enroll_many([n for n in names for _ in range(3)], t.reshape(-1, D))
        g.remove("x' or 1==1")  # the name is data, not filter syntax: only that identity goes
        g.update("Ada", t[1, :1])
        assert "x' or 1==1" not in g and len(g) == len(names) - 1 and g.num_templates == 3 * len(names) - 5
        with pytest.raises(KeyError):
            g.remove("nobody")
    with MilvusGallery(uri, collection="people") as g:  # state lives in the collection alone
        assert g.model_id == "model-A" and g.dim == D and g.aggregation == "max"
        # enrollment order; an updated identity counts as enrolled last (as in the FAISS gallery)
        assert g.identities() == [n for n in names if n not in ("x' or 1==1", "Ada")] + ["Ada"]
        assert g.info("Ada").num_templates == 1
        top = g.search(t[1, 0], k=2)[0].matches
        assert {m.identity for m in top} == {"Ada", 'quote"d'} and top[0].score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ModelError):
        MilvusGallery(uri, collection="people", model_id="model-B")
    with pytest.raises(ValueError):
        MilvusGallery(uri, collection="people", aggregation="mean")
    with MilvusGallery(uri, collection="means", aggregation="mean", dim=D) as g:
        g.enroll("a", t[0])
    with MilvusGallery(uri, collection="means") as g:  # aggregation read back from the collection
        assert g.aggregation == "mean" and g.info("a").num_templates == 3


def test_milvus_collection_of_a_newer_format_is_refused(tmp_path: Path, monkeypatch) -> None:
    from facerec.gallery import milvus_gallery
    from facerec.gallery.base import GalleryError

    uri = str(tmp_path / "g.db")
    monkeypatch.setattr(milvus_gallery, "FORMAT_VERSION", milvus_gallery.FORMAT_VERSION + 1)  # a newer facerec wrote it
    with MilvusGallery(uri, collection="people", model_id="model-A", dim=D) as g:
        g.enroll("a", unit(np.ones(D)))
    monkeypatch.undo()
    with pytest.raises(GalleryError, match="gallery format 2 is newer than this facerec supports"):
        MilvusGallery(uri, collection="people")
