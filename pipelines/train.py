"""The workflow behind ``facerec train --config FILE.toml`` (its command line: :mod:`pipelines.cli.train`):
Train an embedding model (see pipelines/training/)."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "configs"


def config_path(name: str) -> Path:
    """A file path, or the name of a preset in pipelines/configs/."""
    p = Path(name)
    if p.is_file() or p.suffix == ".toml":
        return p
    return CONFIG_DIR / f"{name}.toml"
