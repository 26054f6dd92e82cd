"""THE preprocessing definition shared by training and inference.

An aligned crop (H, W, 3) uint8 RGB becomes a float tensor (3, H, W) with
``(pixel / 255 − mean) / std`` per channel. The spec is stored inside every checkpoint so a
model is always fed the way it was trained.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from .alignment import get_template


@dataclass(frozen=True)
class Preprocessing:
    """How aligned crops become network input.

    template: alignment template name (fixes crop size); mean/std: per-channel, on [0, 1]
    pixels; the insightface convention (0.5, 0.5) maps pixels to [−1, 1].
    """

    template: str = "arcface_112"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        get_template(self.template)  # validates the name
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")

    @property
    def size(self) -> tuple[int, int]:
        """Crop (width, height)."""
        return get_template(self.template).size

    def to_tensor(self, crops: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """(N, H, W, 3) uint8 RGB crops → (N, 3, H, W) float32 normalised tensor."""
        arr = np.stack(list(crops)) if not isinstance(crops, np.ndarray) else crops
        if arr.ndim == 3:
            arr = arr[None]
        w, h = self.size
        if arr.ndim != 4 or arr.shape[1:] != (h, w, 3) or arr.dtype != np.uint8:
            raise ValueError(f"expected uint8 crops of shape (N, {h}, {w}, 3); got {arr.dtype} {arr.shape}")
        x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
        return (x - mean) / std

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.template, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        return cls(template=str(d["template"]), mean=tuple(float(v) for v in d["mean"]),
                   std=tuple(float(v) for v in d["std"]))
