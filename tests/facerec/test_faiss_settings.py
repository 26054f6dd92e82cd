"""Importing facerec changes no process-wide FAISS setting; a gallery search applies the
measured BLAS threshold (benchmarks/RESULTS.md) where it runs. Run in a fresh interpreter so
no earlier test has searched already."""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, faiss
default = int(faiss.cvar.distance_compute_blas_threshold)
import numpy as np
from facerec.gallery import Gallery
from facerec.gallery import faiss_gallery
after_import = int(faiss.cvar.distance_compute_blas_threshold)
g = Gallery(dim=8)
rng = np.random.default_rng(0)
g.enroll("a", rng.standard_normal((2, 8)).astype("float32"))
g.search(rng.standard_normal((1, 8)).astype("float32"), k=1)
after_search = int(faiss.cvar.distance_compute_blas_threshold)
print(json.dumps([default, after_import, after_search, faiss_gallery.BLAS_THRESHOLD]))
"""


def test_threshold_set_by_search_not_by_import() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    default, after_import, after_search, rule = json.loads(out.stdout.strip().splitlines()[-1])
    assert after_import == default  # no side effect at import
    assert rule == 2048 and rule != default
    assert after_search == rule
