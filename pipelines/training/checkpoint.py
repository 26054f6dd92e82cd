"""Training checkpoints: everything ``--resume`` needs to continue exactly.

A training state is a plain dict loadable with ``torch.load(weights_only=True)``::

    {"format": "facerec.train_state", "version": 1, "config": {...}, "classes": [...],
     "backbone": name, "backbone_kwargs": {...}, "preprocessing": {...},
     "model": sd, "loss": sd, "optimizer": sd, "scheduler": sd, "scaler": sd | None,
     "step": int, "epoch": int, "batch": int (next batch of ``epoch``), "best": {...},
     "rng": {"python": ..., "numpy": ..., "torch": tensor, "cuda": [tensors]}}

``backbone``, ``backbone_kwargs`` and ``preprocessing`` (as in an embedder checkpoint) rebuild
the backbone without the run's ``model.init`` file; states written before they were recorded
lack them (the trainer then rebuilds the backbone from the config). Written atomically with :func:`facerec.runtime.embedder.atomic_torch_save`. Numpy's RNG state is
stored as plain lists/tensors (not an ndarray pickle) so ``weights_only`` loading accepts it.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facerec.runtime.embedder import atomic_torch_save
from facerec.errors import ModelError

STATE_FORMAT = "facerec.train_state"
STATE_VERSION = 1
REQUIRED = ("config", "model", "loss", "optimizer", "scheduler", "step", "epoch", "batch", "rng")


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) global RNG states."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    # weights_only loading turns tuples into lists; random.setstate wants tuples.
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(state: dict[str, Any], path: str | Path) -> None:
    """Write a training state atomically (a crash leaves the previous file intact)."""
    atomic_torch_save({"format": STATE_FORMAT, "version": STATE_VERSION, **state}, path)


def read_training_state(path: str | Path) -> dict[str, Any] | None:
    """The training state at ``path`` (``last.pt``/``best.pt`` of a run, checked as by
    :func:`load_state`), or None for anything else (an embedder checkpoint, an unreadable file:
    their own loader reports those). The file is read once."""
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is "not a state"
        return None
    if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
        return None
    return _checked(obj, Path(path))


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a training state; a missing, corrupt or foreign file is a :class:`ModelError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no training checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, refused pickle...
        first = (str(exc).splitlines() or [""])[0][:200]
        raise ModelError(f"{path}: corrupt training checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ModelError(f"{path}: not a facerec training checkpoint")
    return _checked(state, path)


def _checked(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """``state`` if its version is supported and it has every required part, else ModelError."""
    if int(state.get("version", -1)) > STATE_VERSION:
        raise ModelError(f"{path}: training checkpoint version {state.get('version')} is newer than supported")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ModelError(f"{path}: training checkpoint lacks {', '.join(missing)}")
    return state
