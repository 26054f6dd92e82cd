"""open_set_threshold against a brute-force count of impostor scores above each candidate."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.verification import open_set_threshold


@pytest.mark.parametrize("far", [1e-1, 1e-2, 3e-3])
def test_open_set_threshold_is_the_lowest_score_at_the_far(far: float) -> None:
    s = np.random.default_rng(0).normal(size=5000)
    t = open_set_threshold(s, far)
    assert np.mean(s > t) <= far  # at most far of the impostors pass
    lower = s[s < t].max()  # the next lower observed score would let more than far through
    assert np.mean(s > lower) > far
    assert t in s


def test_open_set_threshold_rejects_too_few_scores_and_bad_far() -> None:
    with pytest.raises(ValueError, match="cannot resolve"):
        open_set_threshold(np.zeros(50), 1e-3)
    with pytest.raises(ValueError):
        open_set_threshold(np.zeros(50), 0.0)
