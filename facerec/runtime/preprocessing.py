"""THE preprocessing definition shared by training and inference.

An aligned crop (H, W, 3) uint8 RGB becomes a float tensor (3, H, W) with
``(pixel / 255 − mean) / std`` per channel, channels in the model's ``color`` order. The spec
is stored inside every checkpoint so a model is always fed the way it was trained.
:meth:`Preprocessing.to_array` is the rule (numpy, for the onnxruntime path);
:meth:`Preprocessing.to_tensor` wraps it for torch.

:class:`InputSpec` says the same in a foreign network's own units (``(pixel·scale − mean) /
std``, as upstream model cards state it): the registry's upstream models, ``[model] init_*``
and ``[distill]`` in training all describe an ONNX input with it, its defaults are the only
defaults, and :meth:`InputSpec.preprocessing` is the one conversion to :class:`Preprocessing`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from facerec.alignment import get_template

if TYPE_CHECKING:
    import torch


#: Channel orders a network may take; facerec's crops are RGB.
COLORS = ("rgb", "bgr")


@dataclass(frozen=True)
class Preprocessing:
    """How aligned crops become network input.

    template: alignment template name (fixes crop size); mean/std: per-channel, on [0, 1]
    pixels, in the network's channel order; the insightface convention (0.5, 0.5) maps pixels
    to [−1, 1]. color: ``"rgb"`` or ``"bgr"`` (channels reversed before normalising).
    """

    template: str = "arcface_112"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    color: str = "rgb"

    def __post_init__(self) -> None:
        get_template(self.template)  # validates the name
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {COLORS}, got {self.color!r}")

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
        if self.color == "bgr":
            arr = arr[..., ::-1]
        x = arr.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, 3, 1, 1)
        return np.ascontiguousarray((x - mean) / std)

    def to_tensor(self, crops: np.ndarray | Sequence[np.ndarray]) -> "torch.Tensor":
        """:meth:`to_array` as a torch tensor."""
        import torch

        return torch.from_numpy(self.to_array(crops))

    def to_dict(self) -> dict[str, Any]:
        # "color" only when not RGB: every file written before it existed reads back the same.
        d: dict[str, Any] = {"template": self.template, "mean": list(self.mean), "std": list(self.std)}
        if self.color != "rgb":
            d["color"] = self.color
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        return cls(template=str(d["template"]), mean=tuple(float(v) for v in d["mean"]),
                   std=tuple(float(v) for v in d["std"]), color=str(d.get("color", "rgb")))


@dataclass(frozen=True)
class InputSpec:
    """How a network takes an aligned crop, in its own units: a crop of ``template`` (which
    fixes the size), channels in ``color`` order, ``(pixel·scale − mean) / std`` per channel on
    0–255 pixels. The defaults (RGB, pixels scaled to [0, 1]) are the defaults of every ONNX
    input spec in facerec: the model registry, ``[model] init_*`` and ``[distill]``."""

    template: str = "arcface_112"
    color: str = "rgb"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"input scale must be > 0, got {self.scale}")
        self.preprocessing()  # validates template, colour, mean and std

    @property
    def size(self) -> tuple[int, int]:
        """Crop (width, height)."""
        return get_template(self.template).size

    def preprocessing(self) -> Preprocessing:
        """The same input as facerec's :class:`Preprocessing` (what checkpoints store):
        ``(p·scale − mean) / std`` is ``(p/255 − mean/(255·scale)) / (std/(255·scale))``."""
        k = 255.0 * self.scale
        return Preprocessing(template=self.template, mean=tuple(m / k for m in self.mean),  # type: ignore[arg-type]
                             std=tuple(sd / k for sd in self.std), color=self.color)  # type: ignore[arg-type]
