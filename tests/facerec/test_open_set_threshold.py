"""open_set_threshold against a brute-force count of the impostor scores each candidate accepts (>=)."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.metrics.verification import open_set_threshold


@pytest.mark.parametrize("far", [1e-1, 1e-2, 3e-3])
def test_open_set_threshold_is_the_lowest_score_at_the_far(far: float) -> None:
    s = np.random.default_rng(0).normal(size=5000)
    t = open_set_threshold(s, far)
    assert np.mean(s >= t) <= far  # at most far of the impostors are accepted (score >= threshold)
    below = s[s < t].max()  # the highest impostor score rejected: as the threshold it would let more through
    assert np.mean(s >= below) > far
    assert t == np.nextafter(below, np.inf)  # nothing lies between: the lowest threshold that holds the far


def test_open_set_threshold_holds_for_float32_scores_compared_as_float32() -> None:
    """Scores of float32 embeddings: the threshold must exclude the tied score in float32 too."""
    s = np.random.default_rng(1).normal(size=2000).astype(np.float32)
    t = open_set_threshold(s, 0.01)
    assert np.mean(s >= t) <= 0.01 and np.mean(s >= np.float32(t)) <= 0.01
    assert np.mean(s >= s[s < t].max()) > 0.01


def test_open_set_threshold_with_ties_counts_score_equal_to_threshold_as_accepted() -> None:
    s = np.array([0.1] * 90 + [0.5] * 10)  # 10 % of the impostors tie at 0.5
    t = open_set_threshold(s, 0.05)  # 5 %: the tied block must be rejected as a whole
    assert np.mean(s >= t) == 0.0 and t > 0.5
    assert open_set_threshold(s, 0.1) == np.nextafter(0.1, np.inf)  # the block of 10 % may pass


def test_open_set_threshold_rejects_too_few_scores_and_bad_far() -> None:
    with pytest.raises(ValueError, match="cannot resolve"):
        open_set_threshold(np.zeros(50), 1e-3)
    with pytest.raises(ValueError):
        open_set_threshold(np.zeros(50), 0.0)
