"""THE preprocessing definition shared by training and inference.

An aligned crop (H, W, 3) uint8 RGB becomes a float tensor (3, H, W) with
``(pixel / 255 − mean) / std`` per channel. The spec is stored inside every checkpoint so a
model is always fed the way it was trained. :meth:`Preprocessing.to_array` is the rule (numpy,
for the onnxruntime path); :meth:`Preprocessing.to_tensor` wraps it for torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .alignment import get_template

if TYPE_CHECKING:
    import torch


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

    def to_array(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB crops → (N, 3, H, W) float32 normalised, C-contiguous."""
        arr = np.stack(list(crops)) if not isinstance(crops, np.ndarray) else crops
        if arr.ndim == 3:
            arr = arr[None]
        w, h = self.size
        if arr.ndim != 4 or arr.shape[1:] != (h, w, 3) or arr.dtype != np.uint8:
            raise ValueError(f"expected uint8 crops of shape (N, {h}, {w}, 3); got {arr.dtype} {arr.shape}")
        x = arr.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, 3, 1, 1)
        return np.ascontiguousarray((x - mean) / std)

    def to_tensor(self, crops: np.ndarray | Sequence[np.ndarray]) -> "torch.Tensor":
        """:meth:`to_array` as a torch tensor."""
        import torch

        return torch.from_numpy(self.to_array(crops))

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.template, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        return cls(template=str(d["template"]), mean=tuple(float(v) for v in d["mean"]),
                   std=tuple(float(v) for v in d["std"]))
