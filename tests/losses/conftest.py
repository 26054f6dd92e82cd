"""Fixtures for the loss tests: the ORL faces as small fixed feature vectors.

Data location: ``$FACEREC_DATA_DIR/orl`` (default ``<repo>/../shared/data/orl``).
If it is missing, tests that need it FAIL when ``CI`` (or ``FACEREC_REQUIRE_DATA``)
is set, and are skipped with the reason otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pipelines.paths import data_dir

ORL_PEOPLE, ORL_IMAGES = 40, 10
ORL_SHAPE = (112, 92)  # rows, columns of the 8-bit PGMs
POOL = 4  # 112×92 → 28×23 by 4×4 box averaging


def _orl_dir() -> Path:
    return data_dir() / "orl"


def _missing(orl: Path) -> str | None:
    if not orl.is_dir():
        return f"ORL faces not found at {orl}"
    for p in range(1, ORL_PEOPLE + 1):
        for i in range(1, ORL_IMAGES + 1):
            if not (orl / f"s{p}" / f"{i}.pgm").is_file():
                return f"ORL faces incomplete: {orl / f's{p}' / f'{i}.pgm'} missing"
    return None


@pytest.fixture(scope="session")
def losses_orl_dir() -> Path:
    """``$FACEREC_DATA_DIR/orl``, complete (s1..s40, 1..10.pgm each), or fail/skip."""
    orl = _orl_dir()
    reason = _missing(orl)
    if reason is not None:
        msg = f"{reason}: set FACEREC_DATA_DIR to the shared data folder (../shared/data)"
        if os.environ.get("CI") or os.environ.get("FACEREC_REQUIRE_DATA"):
            pytest.fail(msg)
        pytest.skip(msg)
    return orl


@pytest.fixture(scope="session")
def orl_pixels(losses_orl_dir: Path) -> np.ndarray:
    """(40, 10, 644) float32: each face box-averaged to 28×23, flattened, in [0, 1].

    Person p (0-based) is folder s{p+1}; image i is {i+1}.pgm.
    """
    from PIL import Image

    out = np.empty((ORL_PEOPLE, ORL_IMAGES, (ORL_SHAPE[0] // POOL) * (ORL_SHAPE[1] // POOL)), np.float32)
    for p in range(ORL_PEOPLE):
        for i in range(ORL_IMAGES):
            with Image.open(losses_orl_dir / f"s{p + 1}" / f"{i + 1}.pgm") as im:
                a = np.asarray(im.convert("L"), dtype=np.float32)
            assert a.shape == ORL_SHAPE, a.shape
            h, w = ORL_SHAPE[0] // POOL, ORL_SHAPE[1] // POOL
            out[p, i] = a.reshape(h, POOL, w, POOL).mean(axis=(1, 3)).ravel() / 255.0
    return out


@pytest.fixture(scope="session")
def orl_embeddings(orl_pixels: np.ndarray) -> np.ndarray:
    """(40, 10, 64) float64 "real" embeddings: standardised pixels through a fixed
    seeded Gaussian projection 644 → 64 (used as loss inputs by the oracle tests)."""
    x = orl_pixels.reshape(-1, orl_pixels.shape[-1]).astype(np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-3)
    proj = np.random.default_rng(1234).standard_normal((x.shape[1], 64)) / np.sqrt(x.shape[1])
    return (x @ proj).reshape(ORL_PEOPLE, ORL_IMAGES, 64)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Run the loss tests on one intra-op thread (restored after each module).

    Module scope so it is in place before other module-scoped fixtures (the
    learning test trains in one).
    The tensors here are tiny; on this shared 2-core machine torch's 2-thread
    OpenMP path made one (4, 3) F.cross_entropy call take ~0.3–8 ms instead of
    ~4 µs, which dominated gradcheck time.  One thread also leaves a core free.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
