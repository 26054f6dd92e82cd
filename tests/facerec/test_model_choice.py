"""Which model a command uses: one rule (:func:`facerec.models.choose_model`) — the explicit
flag or argument, then ``$FACEREC_MODEL``, then the gallery's (or cluster's) recorded model,
then the default — and one way from a fingerprint back to a name.

Oracle: the precedence list written out as a table, each source set alone and each pair
(the higher one must win), against the registry's own names."""
from __future__ import annotations

import itertools

import pytest

from facerec.errors import ModelError
from facerec.models import DEFAULT_MODEL, MODEL_ENV, MODELS, choose_model, model_name_of, thresholds_of

OTHER = next(n for n in MODELS if n != DEFAULT_MODEL)
# (source, value it names): highest precedence first
SOURCES = [("explicit", "sface"), ("env", "facerec-mbf-v2"), ("recorded", "sface")]


def _choose(present: dict[str, str], monkeypatch) -> tuple[str, list[str]]:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    if "env" in present:
        monkeypatch.setenv(MODEL_ENV, present["env"])
    asked: list[str] = []

    def recorded() -> str | None:
        asked.append("recorded")
        return present.get("recorded")

    return choose_model(present.get("explicit"), recorded), asked


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_each_source_alone_and_every_pair(k, monkeypatch):
    for subset in itertools.combinations(SOURCES, k):
        present = dict(subset)
        got, asked = _choose(present, monkeypatch)
        want = subset[0][1] if subset else DEFAULT_MODEL  # SOURCES is in precedence order
        assert got == want, subset
        # the recorded model (a gallery read) is consulted only when nothing above it is set
        assert asked == ([] if ("explicit" in present or "env" in present) else ["recorded"]), subset


def test_the_higher_source_wins_even_when_it_names_the_default(monkeypatch):
    monkeypatch.setenv(MODEL_ENV, DEFAULT_MODEL)
    assert choose_model(None, OTHER) == DEFAULT_MODEL  # env beats the gallery's record
    assert choose_model(OTHER, DEFAULT_MODEL) == OTHER
    monkeypatch.setenv(MODEL_ENV, "")  # set but empty: as unset
    assert choose_model(None, OTHER) == OTHER
    assert choose_model(None, None) == DEFAULT_MODEL


def test_an_unknown_name_from_any_source_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    for args in (("nope", None), (None, "nope")):
        with pytest.raises(ModelError, match="unknown model 'nope'; known models"):
            choose_model(*args)
    monkeypatch.setenv(MODEL_ENV, "nope")
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        choose_model()


def test_fingerprint_to_name_and_thresholds():
    for name, spec in MODELS.items():
        assert model_name_of(spec.fingerprint) == name
        assert model_name_of(spec.fingerprint, "recorded-name") == "recorded-name"  # a saved name is kept
        norm = {} if spec.norm_ref is None else {"norm_ref": spec.norm_ref}  # the face quality's reference
        assert thresholds_of(spec.fingerprint) == {"threshold": spec.threshold,
                                                   "search_threshold": spec.search_threshold,
                                                   "search_far": spec.search_far, **norm}
    assert model_name_of("0" * 16) is None and model_name_of(None) is None and thresholds_of("0" * 16) is None


def test_the_library_follows_the_rule(monkeypatch, installed_model):
    from facerec import FaceRecognizer

    installed_model("sface")
    installed_model(OTHER)
    monkeypatch.setenv(MODEL_ENV, OTHER)
    assert FaceRecognizer.load().model_name == OTHER
    assert FaceRecognizer.load(model=DEFAULT_MODEL).model_name == DEFAULT_MODEL
    monkeypatch.delenv(MODEL_ENV)
    rec = FaceRecognizer.load()
    assert rec.model_name == DEFAULT_MODEL
    # the thresholds of a named model come from its registry entry, also when loaded as a file
    spec = MODELS[DEFAULT_MODEL]
    assert rec.threshold == spec.threshold and rec.search_threshold == spec.search_threshold
    by_file = FaceRecognizer.load(spec.onnx_path())
    assert by_file.threshold == spec.threshold and by_file.model_name == DEFAULT_MODEL
