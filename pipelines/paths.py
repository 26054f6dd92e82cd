"""Where the real face data lives: one rule for the demo, training configs, benchmarks and tests."""
from __future__ import annotations

import os
from pathlib import Path

#: The repository root (the folder holding facerec/, pipelines/, benchmarks/, tests/).
REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """``$FACEREC_DATA_DIR`` if set and non-empty, else ``../shared/data`` beside the repository.

    Not checked: whether a missing folder is an error, a skip or fine is the caller's call."""
    env = os.environ.get("FACEREC_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"
