"""The training set's units: an :class:`Identity` (a name and its images) and a :class:`Split`.

Shared by the folder reader (:mod:`.data`) and the RecordIO reader (:mod:`.recordio`); kept
apart so neither imports the other's module for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    name: str
    files: tuple[Any, ...]  # image Paths, or RecordRefs into a .rec file


@dataclass(frozen=True)
class Split:
    """Identity-disjoint train / validation identities."""

    train: tuple[Identity, ...]
    val: tuple[Identity, ...]

    def counts(self) -> dict[str, int]:
        return {"train_identities": len(self.train), "train_images": sum(len(i.files) for i in self.train),
                "val_identities": len(self.val), "val_images": sum(len(i.files) for i in self.val)}
