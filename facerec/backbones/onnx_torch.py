"""Run a small ONNX CNN graph with torch ops: the torch runtime of ONNX-only models.

Why: a model such as OpenCV Zoo's SFace exists only as an ONNX graph. As torch ops it runs
batched, ``channels_last`` and (where the CPU has native bf16) under bf16 autocast, and it can
be trained: the weights of Conv, Gemm, PRelu and BatchNormalization are parameters (BatchNorm's
running statistics are buffers, updated in training mode like ``nn.BatchNorm2d``). Only the
operators such CNNs use are supported; any other raises ``NotImplementedError`` naming it.
The graph's structure is kept as plain data (:func:`read_graph`), so a fine-tuned graph saves
as a facerec ``.pt`` (backbone ``onnx_graph``) and is rebuilt without the ``onnx`` package.
Tests hold this interpreter to onnxruntime and OpenCV on real crops.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(pads: list[int]) -> tuple[int, int]:
    # ONNX pads are (top, left, bottom, right); torch's conv2d takes one symmetric pair.
    if len(pads) == 4 and (pads[0] != pads[2] or pads[1] != pads[3]):
        raise NotImplementedError("asymmetric Conv padding")
    return (pads[0], pads[1]) if pads else (0, 0)


#: Which inputs of an operator are learnable weights (the others stay buffers).
_LEARNABLE = {"Conv": (1, 2), "Gemm": (1, 2), "PRelu": (1,), "BatchNormalization": (1, 2)}


def _plain(v: Any) -> Any:
    """An ONNX attribute value as plain Python (bytes → str), storable in a ``.pt`` checkpoint."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def read_graph(path: str | os.PathLike) -> tuple[dict[str, Any], list[torch.Tensor]]:
    """An ONNX file → (graph spec, initializer tensors in spec order).

    The spec is plain data (lists, str, numbers) that :class:`OnnxGraphModule` rebuilds the
    module from, so a checkpoint can store it beside the weights (backbone ``onnx_graph``)::

        {"nodes": [[op, inputs, outputs, attrs], ...], "tensors": [[name, shape, dtype, learnable], ...],
         "input": name, "output": name, "input_size": [H, W] | None, "embedding_size": D}
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    nodes = [[n.op_type, list(n.input), list(n.output), {k: _plain(v) for k, v in _attrs(n).items()}]
             for n in graph.node]
    check_supported(nodes)
    learnable = {ins[i] for op, ins, _, _ in nodes for i in _LEARNABLE.get(op, ()) if i < len(ins)}
    # Initializers in order of first use, so named_parameters() runs in forward order (what
    # freezing "all but the last N blocks" counts on).
    first_use = {}
    for k, (_, ins, _, _) in enumerate(nodes):
        for name in ins:
            first_use.setdefault(name, k)
    tensors, specs = [], []
    for init in sorted(graph.initializer, key=lambda i: first_use.get(i.name, len(nodes))):
        t = torch.from_numpy(numpy_helper.to_array(init).copy())
        tensors.append(t)
        specs.append([init.name, list(t.shape), str(t.dtype).removeprefix("torch."),
                      init.name in learnable and t.is_floating_point()])
    weights = {s[0] for s in specs}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1:
        raise NotImplementedError(f"graph with {len(inputs)} data inputs")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    out_dims = [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    spec = {"nodes": nodes, "tensors": specs, "input": inputs[0].name, "output": graph.output[0].name,
            "input_size": [int(dims[2]), int(dims[3])] if len(dims) == 4 and dims[2] and dims[3] else None,
            "embedding_size": int(out_dims[-1]) if out_dims and out_dims[-1] else 0}
    return spec, tensors


class OnnxGraphModule(nn.Module):
    """``forward(x)`` evaluates the graph's nodes in order; ``x`` binds the one data input.

    Built from an ONNX file, or from a spec of :func:`read_graph` (weights then come from
    ``load_state_dict``). ``embedding_size`` and ``input_size`` (H, W) are read from the graph's
    output and input. In training mode a BatchNormalization whose scale is frozen
    (``requires_grad`` False) keeps using its running statistics: a frozen layer stays as it was.
    """

    def __init__(self, source: str | os.PathLike | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(source, dict):
            spec = source
            tensors = [torch.zeros(shape, dtype=getattr(torch, dtype)) for _, shape, dtype, _ in spec["tensors"]]
        else:
            spec, tensors = read_graph(source)
        self.spec = spec
        self.nodes = [(op, list(ins), list(outs), dict(at)) for op, ins, outs, at in spec["nodes"]]
        check_supported(self.nodes)
        self._weight_names: list[str] = []
        for k, ((name, _, _, learnable), t) in enumerate(zip(spec["tensors"], tensors)):
            if learnable:
                self.register_parameter(f"w{k}", nn.Parameter(t))
            else:
                self.register_buffer(f"w{k}", t)
            self._weight_names.append(name)
        self._slot = {n: f"w{k}" for k, n in enumerate(self._weight_names)}
        self.input_name, self.output_name = spec["input"], spec["output"]
        self.input_size = tuple(spec["input_size"]) if spec.get("input_size") else None
        self.embedding_size = int(spec.get("embedding_size") or 0)

    def batchnorm_parameters(self) -> list[nn.Parameter]:
        """The scale and shift parameters of every BatchNormalization node."""
        names = [ins[i] for op, ins, _, _ in self.nodes if op == "BatchNormalization" for i in (1, 2)]
        return [p for p in (getattr(self, self._slot[n]) for n in names if n in self._slot) if isinstance(p, nn.Parameter)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {n: getattr(self, f"w{k}") for k, n in enumerate(self._weight_names)}
        env[self.input_name] = x
        for op, ins, outs, attrs in self.nodes:
            fn = _OPS[op]
            if op == "BatchNormalization" and self.training and env[ins[1]].requires_grad:
                fn = _bn_train
            env[outs[0]] = fn([env[i] if i else None for i in ins], attrs)
        return env[self.output_name]


def _conv(a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else None
    return F.conv2d(x, w.to(x.dtype), None if b is None else b.to(x.dtype), stride=tuple(at.get("strides", (1, 1))),
                    padding=_pads(list(at.get("pads", []))), dilation=tuple(at.get("dilations", (1, 1))),
                    groups=int(at.get("group", 1)))


def _bn(a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    x, g, b, m, v = a
    return F.batch_norm(x, m.float(), v.float(), g.float(), b.float(), False, 0.0, float(at.get("epsilon", 1e-5)))


def _bn_train(a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    # Training mode: batch statistics, running statistics updated in place (as nn.BatchNorm2d
    # with ONNX's momentum convention: running = momentum·running + (1 − momentum)·batch).
    x, g, b, m, v = a
    momentum = 1.0 - float(at.get("momentum", 0.9))
    return F.batch_norm(x, m, v, g, b, True, momentum, float(at.get("epsilon", 1e-5)))


def _prelu(a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    x, slope = a
    slope = slope.to(x.dtype).reshape(1, -1, *([1] * (x.dim() - 2))) if slope.numel() > 1 else slope.to(x.dtype)
    return torch.where(x >= 0, x, x * slope)


def _gemm(a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    x, w = a[0], a[1]
    c = a[2] if len(a) > 2 else None
    if at.get("transA", 0):
        x = x.T
    w = w.to(x.dtype)
    y = at.get("alpha", 1.0) * (x @ (w.T if at.get("transB", 0) else w))
    return y if c is None else y + at.get("beta", 1.0) * c.to(y.dtype)


_OPS: dict[str, Callable[[list[Any], dict[str, Any]], torch.Tensor]] = {
    "Conv": _conv,
    "BatchNormalization": _bn,
    "PRelu": _prelu,
    "Relu": lambda a, at: F.relu(a[0]),
    "Add": lambda a, at: a[0] + a[1],
    "Sub": lambda a, at: a[0] - a[1],
    "Mul": lambda a, at: a[0] * a[1],
    "Flatten": lambda a, at: torch.flatten(a[0], int(at.get("axis", 1))),
    "Gemm": _gemm,
    "Dropout": lambda a, at: a[0],  # inference: identity
    "Identity": lambda a, at: a[0],
}


#: The attributes each operator's function reads; any other attribute would change the result
#: unseen (Conv's auto_pad, say), so a graph that sets one is refused — unless it holds the
#: ONNX default, which changes nothing (:data:`_DEFAULT_ONLY`).
_READS: dict[str, frozenset[str]] = {
    "Conv": frozenset({"strides", "pads", "dilations", "group", "kernel_shape"}),  # kernel_shape: the weights'
    "BatchNormalization": frozenset({"epsilon", "momentum"}),
    "Flatten": frozenset({"axis"}),
    "Gemm": frozenset({"alpha", "beta", "transA", "transB"}),
    "Dropout": frozenset({"ratio", "seed"}),  # inference: identity whatever they are
}
_DEFAULT_ONLY: dict[tuple[str, str], Any] = {("Conv", "auto_pad"): "NOTSET", ("BatchNormalization", "spatial"): 1,
                                             ("BatchNormalization", "training_mode"): 0}


def check_supported(nodes: Sequence[Sequence[Any]]) -> None:
    """NotImplementedError naming what the torch runner cannot evaluate faithfully: an operator
    outside :data:`_OPS`, or an attribute its function does not read (set to a non-default)."""
    unknown = sorted({op for op, *_ in nodes} - set(_OPS))
    if unknown:
        raise NotImplementedError(f"ONNX operators not supported by the torch runner: {', '.join(unknown)}")
    for op, _, outs, attrs in nodes:
        for name, value in attrs.items():
            if name in _READS.get(op, frozenset()):
                continue
            if (op, name) in _DEFAULT_ONLY and value == _DEFAULT_ONLY[(op, name)]:
                continue
            raise NotImplementedError(f"ONNX {op} node {outs[0]!r}: attribute {name}={value!r} is not supported by the "
                                      "torch runner (it would be ignored)")

