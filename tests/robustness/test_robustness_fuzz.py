"""Property-based fuzzing (hypothesis) of the parsers and numerics that take untrusted input:
the LFW pairs parser, the landmark alignment, and the gallery's enroll/remove/update/save/load
sequence against a plain-dict model."""
from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from facerec import AlignmentError
from facerec.alignment import ARCFACE_112, align_face, estimate_similarity
from facerec.gallery import Gallery
from facerec.metrics.pairs import parse_lfw_pairs

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- pairs.txt ------------------------------------------------------------------------------
_token = st.one_of(st.integers(-3, 12).map(str), st.sampled_from(["Aaron_Eckhart", "a/b", "..", "Zoë", "1e3", "0x1",
                                                                   "٣", "9" * 5000, "-", "", "\x00", "\t"]),
                   st.text(max_size=6))
_line = st.lists(_token, max_size=5).map(" ".join)


_name = st.from_regex(r"[A-Za-z][A-Za-z_\-]{0,10}", fullmatch=True)
_num = st.integers(1, 9999).map(str)
# Small well-formed files (one set, one same and one different pair), so the accepting path
# is exercised too, not only the rejecting one.
_valid_file = st.tuples(_name, _num, _num, _name, _num, _name, _num).map(
    lambda t: ["1 1", f"{t[0]} {t[1]} {t[2]}", f"{t[3]} {t[4]} {t[5]} {t[6]}"])


def test_pairs_parser_raises_only_value_error():
    outcomes = {"accepted": 0, "rejected": 0}

    @FUZZ
    @given(st.one_of(st.text(max_size=300).map(str.splitlines), st.lists(_line, max_size=12), _valid_file))
    def run(lines):
        try:
            pairs = parse_lfw_pairs(lines, "/imgs")
        except ValueError:
            outcomes["rejected"] += 1
            return
        outcomes["accepted"] += 1
        # Accepted input: every pair is well formed and the count matches the header.
        header = lines[0].split()
        n_sets, n_per = (1, int(header[0])) if len(header) == 1 else (int(header[0]), int(header[1]))
        assert len(pairs) == 2 * n_sets * n_per
        for k, p in enumerate(pairs):
            assert p.fold == k // (2 * n_per) and p.same == ((k % (2 * n_per)) < n_per)
            assert p.path_a.suffix == p.path_b.suffix == ".jpg"

    run()
    # Both paths ran: a parser that raised on everything would fail here.
    assert outcomes["accepted"] > 0 and outcomes["rejected"] > 0, outcomes


@FUZZ
@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_pairs_parser_well_formed_files_round_trip(n_sets, n_per, data):
    """Generated valid files parse to exactly the pairs written (an independent writer)."""
    name, num = _name, st.integers(1, 9999)
    lines, want = [f"{n_sets} {n_per}" if n_sets > 1 or data.draw(st.booleans()) else f"{n_per}"], []
    for fold in range(n_sets):
        for _ in range(n_per):
            a, i, j = data.draw(name), data.draw(num), data.draw(num)
            lines.append(f"{a}\t{i}  {j}")
            want.append((f"/imgs/{a}/{a}_{i:04d}.jpg", f"/imgs/{a}/{a}_{j:04d}.jpg", True, fold))
        for _ in range(n_per):
            a, i, b, j = data.draw(name), data.draw(num), data.draw(name), data.draw(num)
            lines.append(f" {a} {i} {b} {j} ")
            want.append((f"/imgs/{a}/{a}_{i:04d}.jpg", f"/imgs/{b}/{b}_{j:04d}.jpg", False, fold))
    got = [(str(p.path_a), str(p.path_b), p.same, p.fold) for p in parse_lfw_pairs(lines + ["", ""], "/imgs")]
    assert got == want


# -- alignment -------------------------------------------------------------------------------
_coord = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
_landmarks = st.lists(st.tuples(_coord, _coord), min_size=5, max_size=5).map(lambda p: np.array(p, np.float64))
_extreme = st.floats(allow_nan=False, allow_infinity=False)  # up to ±1.8e308
_extreme_landmarks = st.lists(st.tuples(_extreme, _extreme), min_size=5, max_size=5).map(np.array)


def test_random_finite_landmarks_never_crash():
    outcomes = {"accepted": 0, "rejected": 0}

    @FUZZ
    @given(st.one_of(_landmarks, _extreme_landmarks))
    def run(lms):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow in intermediate squares is expected
            try:
                m = estimate_similarity(lms, ARCFACE_112.points)
            except AlignmentError:
                outcomes["rejected"] += 1
                return
            outcomes["accepted"] += 1
            assert m.shape == (2, 3) and np.isfinite(m).all()
            crop = align_face(np.full((64, 48, 3), 77, np.uint8), lms)
        assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8

    run()
    assert outcomes["accepted"] > 0, outcomes  # an aligner that raised on everything would fail here


@FUZZ
@given(st.tuples(_coord, _coord), st.floats(0, 1e-4))
def test_coincident_landmarks_raise_alignment_error(point, jitter):
    rng = np.random.default_rng(0)
    lms = np.array(point, np.float64) + rng.uniform(-jitter, jitter, (5, 2))
    with pytest.raises(AlignmentError, match="degenerate"):
        estimate_similarity(lms, ARCFACE_112.points)
    with pytest.raises(AlignmentError):
        align_face(np.zeros((50, 50, 3), np.uint8), lms)


@FUZZ
@given(st.floats(-np.pi, np.pi), st.floats(0.05, 20.0), st.floats(-2000, 2000), st.floats(-2000, 2000),
       st.floats(0.0, 2.0), st.integers(0, 2**32 - 1))
def test_alignment_maps_landmarks_onto_the_template(angle, scale, tx, ty, noise, seed):
    """Landmarks = a known similarity of the template (+ noise): the estimate maps them back
    onto the template, to within the noise (exactly without noise)."""
    c, s = np.cos(angle), np.sin(angle)
    fwd = scale * np.array([[c, -s], [s, c]])
    tpl = ARCFACE_112.points.astype(np.float64)
    lms = tpl @ fwd.T + [tx, ty] + np.random.default_rng(seed).uniform(-noise, noise, (5, 2))
    m = estimate_similarity(lms, tpl)
    mapped = lms @ m[:, :2].T + m[:, 2]
    err = np.abs(mapped - tpl).max()
    # Noise of ±noise px in the source is divided by `scale` in template pixels; least squares
    # over 5 points can amplify a single point's error by at most a small constant.
    assert err <= 1e-6 * (1 + abs(tx) + abs(ty)) + 3 * noise / scale, err
    # It is a similarity (no shear, no reflection): m[:, :2] = k·R with det > 0.
    a = m[:, :2]
    assert np.allclose(a @ a.T, np.eye(2) * (a[0] @ a[0]), rtol=1e-6, atol=1e-12) and np.linalg.det(a) > 0


# -- gallery: random operation sequences against a dict model -------------------------------
D = 16
NAMES = ["Ada", "a/b", "..", "Zoë 张", "x" * 256, " pad "]


class GalleryModel(RuleBasedStateMachine):
    """``model``: name → list of the unit templates enrolled (the oracle); the gallery under
    test must agree after every step, including across save/load."""

    index, aggregation = "Flat", "max"

    def __init__(self) -> None:
        super().__init__()
        self.g = Gallery(dim=D, model_id="m", index=self.index, aggregation=self.aggregation)
        self.model: dict[str, list[np.ndarray]] = {}
        self.dir = Path(tempfile.mkdtemp(prefix="fuzz-gallery-"))
        self.counter = 0

    def _vectors(self, n: int) -> np.ndarray:
        self.counter += 1  # every template distinct: a top-1 search has one right answer
        v = np.random.default_rng(self.counter).standard_normal((n, D)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    names = Bundle("names")

    @rule(target=names, name=st.sampled_from(NAMES), n=st.integers(1, 3))
    def enroll(self, name, n):
        v = self._vectors(n)
        assert self.g.enroll(name, v) == n
        self.model.setdefault(name, []).extend(v)
        return name

    @rule(names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=5))
    def enroll_many(self, names):
        v = self._vectors(len(names))
        assert self.g.enroll_many(names, v) == len(names)
        for n, x in zip(names, v):
            self.model.setdefault(n, []).append(x)

    @rule(name=names)
    def remove(self, name):
        if name in self.model:
            self.g.remove(name)
            del self.model[name]
        else:
            with pytest.raises(KeyError):
                self.g.remove(name)

    @rule(name=names, n=st.integers(1, 2))
    def update(self, name, n):
        v = self._vectors(n)
        if name in self.model:
            assert self.g.update(name, v) == n
            self.model[name] = list(v)
        else:
            with pytest.raises(KeyError):
                self.g.update(name, v)

    @rule()
    def save_and_load(self):
        self.g.save(self.dir)
        self.g = Gallery.load(self.dir)

    @invariant()
    def agrees_with_model(self):
        assert sorted(self.g.identities()) == sorted(self.model)
        assert self.g.num_templates == sum(map(len, self.model.values()))
        for name, vs in self.model.items():
            assert self.g.info(name).num_templates == len(vs)
            if self.aggregation == "max":
                q = vs[-1]
            else:  # the identity's normalised mean template, computed here independently
                q = np.mean(vs, axis=0)
                q = q / np.linalg.norm(q)
            best = self.g.search_embeddings(q, k=1)[0].best
            assert best.identity == name and best.score == pytest.approx(1.0, abs=1e-4)

    def teardown(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class HNSWMeanModel(GalleryModel):
    index, aggregation = "HNSW8", "mean"


_STATEFUL = settings(max_examples=25, stateful_step_count=12, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
TestGalleryFlatMax = GalleryModel.TestCase
TestGalleryFlatMax.settings = _STATEFUL
TestGalleryHNSWMean = HNSWMeanModel.TestCase
TestGalleryHNSWMean.settings = settings(_STATEFUL, max_examples=10)
