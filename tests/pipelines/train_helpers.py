"""Helpers for the training tests: a tiny registered backbone and a synthetic crop dataset.

The tiny backbone keeps mechanics tests (resume, DDP) to milliseconds per step; the real
backbones are trained in the ORL smoke test.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch import nn

from facerec.backbones import list_backbones, register_backbone

TINY = "tiny_test_cnn"


class TinyNet(nn.Module):
    """conv(stride 4) → BN → PReLU → 4×4 pool → FC → BN: BatchNorm state like the real ones."""

    def __init__(self, embedding_size: int = 16, input_size: tuple[int, int] = (112, 112)) -> None:
        super().__init__()
        self.embedding_size, self.input_size = embedding_size, tuple(input_size)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 5, stride=4, padding=2, bias=False), nn.BatchNorm2d(8),
                                  nn.PReLU(8), nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(8 * 16, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)

    def forward(self, x):
        return self.features(self.fc(self.body(x).flatten(1)))


def register_tiny() -> str:
    if TINY not in list_backbones():
        register_backbone(TINY)(lambda **kw: TinyNet(**kw))
    return TINY


register_tiny()


def write_synthetic_crops(root: Path, identities: int = 8, per_identity: int = 5, seed: int = 0) -> Path:
    """112×112 PNG 'faces': a fixed random pattern per identity plus per-image noise."""
    rng = np.random.default_rng(seed)
    for k in range(identities):
        base = rng.integers(0, 256, size=(14, 14, 3)).astype(np.float32)
        base = np.kron(base, np.ones((8, 8, 1), np.float32))  # 112×112 blocks: learnable by a small CNN
        d = root / f"id{k:03d}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_identity):
            img = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{i:02d}.png")
    return root


def tiny_config(root: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A small, fast, deterministic config dict; ``sections`` update it per section."""
    d: dict[str, Any] = {
        "data": {"root": str(root), "align": "none", "val_identities": 2},
        "augment": {"flip": 0.5, "grayscale": 0.3, "downscale": 0.3},
        "model": {"backbone": TINY, "embedding_size": 16},
        "loss": {"name": "arcface", "params": {"scale": 16.0, "margin": 0.3}},
        "optim": {"name": "sgd", "lr": 0.05},
        "schedule": {"warmup_epochs": 1.0, "decay": "cosine"},
        "train": {"epochs": 3, "batch_size": 8, "precision": "fp32", "channels_last": False, "progress": False,
                  "log_every": 1, "tensorboard": False},
        "eval": {"val_pairs": 40, "batch_size": 16},
    }
    for sec, values in sections.items():
        d.setdefault(sec, {}).update(values)
    return d


class TinyMLP(nn.Module):
    """No BatchNorm (whose batch statistics differ between a split and a whole batch):
    for checking that DDP's gradient averaging reproduces one process on the global batch."""

    def __init__(self, embedding_size: int = 16, input_size: tuple[int, int] = (16, 16)) -> None:
        super().__init__()
        self.embedding_size, self.input_size = embedding_size, tuple(input_size)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * input_size[0] * input_size[1], 32), nn.PReLU(32),
                                 nn.Linear(32, embedding_size))

    def forward(self, x):
        return self.net(x)


def tiny_onnx_embedder(path: Path, seed: int = 0, dim: int = 16, batch_dim: bool = True) -> Path:
    """A foreign ONNX embedding graph (no facerec metadata): Conv(3→4, 3×3, stride 4) →
    BatchNormalization → PRelu → Flatten → Gemm(→ ``dim``) on (N, 3, 112, 112), random weights.
    ``batch_dim=False`` fixes the batch at 1, as many upstream files do."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def t(name: str, a: np.ndarray):
        return numpy_helper.from_array(a.astype(np.float32), name)

    inits = [t("w", rng.standard_normal((4, 3, 3, 3)) * 0.1), t("b", rng.standard_normal(4) * 0.1),
             t("g", 1 + 0.1 * rng.standard_normal(4)), t("beta", 0.1 * rng.standard_normal(4)),
             t("mu", 0.1 * rng.standard_normal(4)), t("var", 1 + 0.1 * rng.random(4)),
             t("slope", np.full((4, 1, 1), 0.25)), t("fc", rng.standard_normal((dim, 4 * 28 * 28)) * 0.02),
             t("fcb", np.zeros(dim))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], strides=[4, 4], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mu", "var"], ["n"], epsilon=1e-5),
             helper.make_node("PRelu", ["n", "slope"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1)]
    n = "N" if batch_dim else 1
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 3, 112, 112])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
