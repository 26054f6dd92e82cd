"""FAISS gallery semantics against exact numpy search written out here, independently."""
from __future__ import annotations

import numpy as np
import pytest

from facerec import ModelError
from facerec.gallery import Gallery, validate_identity

D = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, n_people: int, per_person: int, noise: float = 0.6, dim: int = D):
    """Identity centres on the sphere, templates = centre + noise (the geometry of face embeddings):
    two templates of one person have cosine ≈ 1 / (1 + noise²), two people ≈ 0 ± 1/√dim."""
    centres = unit(rng.standard_normal((n_people, dim)))
    t = unit(centres[:, None] + noise / np.sqrt(dim) * rng.standard_normal((n_people, per_person, dim)))
    return centres, t


def numpy_rank(gallery_vectors: dict[str, np.ndarray], q: np.ndarray, how: str) -> list[list[tuple[str, float]]]:
    """Exact identity ranking: max over templates, or cosine to the normalised mean template."""
    names = list(gallery_vectors)
    if how == "max":
        s = np.stack([(q @ unit(gallery_vectors[n]).T).max(1) for n in names], 1)
    else:
        s = q @ unit(np.stack([unit(gallery_vectors[n]).mean(0) for n in names])).T
    order = np.argsort(-s, axis=1, kind="stable")
    return [[(names[j], float(s[i, j])) for j in row] for i, row in enumerate(order)]


@pytest.mark.parametrize("how", ["max", "mean"])
def test_flat_search_equals_exact_numpy(how: str) -> None:
    rng = np.random.default_rng(0)
    _, t = clustered(rng, 40, 4)
    counts = rng.integers(1, 5, size=40)  # uneven template counts
    vecs = {f"p{i}": t[i, :c] for i, c in enumerate(counts)}
    g = Gallery(aggregation=how)
    for name, v in vecs.items():
        g.enroll(name, v)
    q = unit(rng.standard_normal((25, D)))
    got = g.search(q, k=7)
    want = numpy_rank(vecs, q, how)
    for r, w in zip(got, want):
        assert [m.identity for m in r.matches] == [n for n, _ in w[:7]]
        np.testing.assert_allclose([m.score for m in r.matches], [s for _, s in w[:7]], atol=1e-5)


def test_max_needs_more_neighbours_than_k() -> None:
    """One identity owns the 50 nearest vectors: ranking identities must look past them."""
    rng = np.random.default_rng(1)
    q = unit(rng.standard_normal(D))
    near = unit(q + 0.05 * rng.standard_normal((50, D)))
    g = Gallery()
    g.enroll("crowd", near)
    for i in range(5):
        g.enroll(f"other{i}", unit(rng.standard_normal((1, D))))
    r = g.search(q, k=4)[0]
    assert len(r.matches) == 4 and r.matches[0].identity == "crowd"
    assert [m.identity for m in r.matches[1:]] == [n for n, _ in numpy_rank(
        {f"other{i}": g._store.of_owner(g._iid_of[f"other{i}"]) for i in range(5)}, q[None], "max")[0][:3]]


def test_k_larger_than_gallery_and_empty_gallery() -> None:
    g = Gallery(dim=D)
    assert g.search(unit(np.ones(D)), k=3)[0].matches == () and g.search(unit(np.ones(D)))[0].identity is None
    g.enroll("a", unit(np.ones((2, D))))
    assert [m.identity for m in g.search(unit(np.ones(D)), k=10)[0].matches] == ["a"]
    with pytest.raises(ValueError):
        g.search(unit(np.ones(D)), k=0)


def test_inputs_are_normalised_like_verification() -> None:
    """Scores are cosine similarities whatever the input scale (facerec.similarity)."""
    from facerec import cosine_similarity

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(D) * 7, rng.standard_normal(D) * 0.1
    g = Gallery()
    g.enroll("a", a.astype(np.float32))
    assert g.search(b.astype(np.float32))[0].score == pytest.approx(float(cosine_similarity(a, b)), abs=1e-6)


@pytest.mark.parametrize("how", ["max", "mean"])
def test_remove_and_update(how: str) -> None:
    rng = np.random.default_rng(3)
    _, t = clustered(rng, 6, 3)
    g = Gallery(aggregation=how)
    for i in range(6):
        g.enroll(f"p{i}", t[i])
    g.remove("p2")
    assert "p2" not in g and len(g) == 5 and g.num_templates == 15
    assert all(m.identity != "p2" for r in g.search(t[2], k=5) for m in r.matches)
    with pytest.raises(KeyError):
        g.remove("p2")
    # update replaces: p0 now answers to p3's photos and no longer to its own.
    g.update("p0", t[3], metadata={"note": "swapped"})
    assert g.info("p0").num_templates == 3 and g.info("p0").metadata == {"note": "swapped"}
    assert g.search(t[3][:1], k=2)[0].matches[0].score == pytest.approx(g.search(t[3][:1], k=2)[0].matches[1].score)
    # p0 and p3 now tie, so compare identity → score maps, not orders.
    want = numpy_rank({n: g._store.of_owner(g._iid_of[n]) for n in g.identities()}, t[0], how)
    for r, w in zip(g.search(t[0], k=5), want):
        got = {m.identity: m.score for m in r.matches}
        assert got.keys() == dict(w).keys() and all(abs(got[n] - s) < 1e-5 for n, s in w)
    with pytest.raises(KeyError):
        g.update("nobody", t[0])


def test_enroll_appends_templates() -> None:
    rng = np.random.default_rng(4)
    _, t = clustered(rng, 1, 4)
    g = Gallery()
    assert g.enroll("a", t[0, :1]) == 1 and g.enroll("a", [t[0, 1], t[0, 2:]]) == 3
    assert g.info("a").num_templates == 4 and len(g) == 1 and g.identities() == ["a"]


def test_open_set_rejects_held_out_identities() -> None:
    """Enrolled people come back named, unenrolled ones as unknown (identity None + best score)."""
    rng = np.random.default_rng(5)
    _, t = clustered(rng, 60, 6, dim=128)  # same-person cosine ≈ 0.74, different ≈ 0 ± 0.09
    g = Gallery(threshold=0.5)
    for i in range(40):
        g.enroll(f"p{i}", t[i, :3])
    known = g.search(t[:40, 3:].reshape(-1, 128), k=1)
    unknown = g.search(t[40:, 3:].reshape(-1, 128), k=1)
    truth = [f"p{i}" for i in range(40) for _ in range(3)]
    assert np.mean([r.identity == n for r, n in zip(known, truth)]) > 0.95
    assert np.mean([r.identity is None for r in unknown]) > 0.95
    assert all(r.score is not None and r.score < 0.5 and r.best is not None for r in unknown if r.identity is None)
    # The decision is exactly "best score < threshold"; a per-call threshold overrides.
    assert all((r.identity is None) == (r.score < 0.5) for r in known + unknown)
    assert all(r.identity is not None for r in g.search(t[40:, 3], threshold=-1.0))


def test_threshold_defaults_to_recognizer_search_threshold() -> None:
    class FakeRecognizer:  # the attributes a gallery reads from a FaceRecognizer
        model_id, threshold, search_threshold = "m1", 0.30, 0.42

        class embedder:
            embedding_size = D

    g = Gallery(FakeRecognizer())  # type: ignore[arg-type]
    assert g.threshold == 0.42 and g.model_id == "m1" and g.dim == D
    g.threshold = 0.7
    assert g.threshold == 0.7
    assert Gallery().threshold is None


def test_model_mismatch_raises() -> None:
    g = Gallery(model_id="model-A")
    g.enroll("a", np.ones((1, D), np.float32), model_id="model-A")
    with pytest.raises(ModelError):
        g.enroll("b", np.ones((1, D), np.float32), model_id="model-B")
    with pytest.raises(ModelError):
        g.enroll("b", np.ones((1, D + 1), np.float32))
    with pytest.raises(ModelError):
        g.search(np.ones(D + 1, np.float32))
    with pytest.raises(ModelError):
        g.search_embeddings(np.ones(D, np.float32), model_id="model-B")
    anonymous = Gallery()
    anonymous.enroll("a", np.ones((1, D), np.float32))
    with pytest.raises(ModelError):  # unknown provenance cannot be vouched for later
        anonymous.check_model("model-A", D)
    with pytest.raises(ModelError):  # images need a recognizer
        anonymous.enroll("b", np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("name", ["a/b", "..", "../../etc/passwd", "Zoë 张伟", "O'Brien \"Jr\"", "C:\\x", " padded ",
                                  "ZWNJ\u200cname", "😀"])
def test_names_are_data(name: str) -> None:
    assert validate_identity(name) == name
    g = Gallery()
    g.enroll(name, np.ones((1, D), np.float32))
    assert g.identities() == [name] and g.search(np.ones(D, np.float32))[0].identity == name


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "a\nb", "nul\x00", "esc\x1b[31m", "line\u2028sep", 5, None,
                                  "x" * 257])
def test_bad_names_raise_value_error(name: object) -> None:
    with pytest.raises(ValueError):
        validate_identity(name)
    with pytest.raises(ValueError):
        Gallery().enroll(name, np.ones((1, D), np.float32))  # type: ignore[arg-type]


def test_bad_inputs_raise() -> None:
    g = Gallery()
    with pytest.raises(ValueError):
        g.enroll("a", [])
    with pytest.raises(ValueError):
        g.enroll("a", np.zeros((1, D), np.float32))
    with pytest.raises(ValueError):
        g.enroll("a", np.full((1, D), np.nan, np.float32))
    with pytest.raises(ValueError):
        g.enroll("a", np.ones((1, D), np.float32), metadata={"x": object()})
    with pytest.raises(ValueError):
        Gallery(aggregation="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Gallery(dim=D, index="NotAnIndex")
    assert len(g) == 0 and g.num_templates == 0
