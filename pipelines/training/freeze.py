"""Which backbone parameters train: ``[model] freeze`` and the classifier warm-up.

Fine-tuning a pretrained model on few identities, the new classifier starts random: its first
gradients are large and mostly noise, and would wreck the pretrained features before the
centres make sense. So the backbone can be frozen for ``classifier_warmup_steps``, and for good
(``freeze = backbone``) or except its last blocks (``freeze = all_but_last``).

A *block* is one conv or linear layer with the normalisation and activation that follow it:
the backbone's parameters in forward order, a new block at each conv or linear weight. This
holds for facerec's backbones and for ONNX graphs (whose parameters are kept in forward order).
Frozen BatchNorms keep their running statistics in training mode (a frozen layer is unchanged).
"""
from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger(__name__)


def blocks(backbone: nn.Module) -> list[list[nn.Parameter]]:
    """The backbone's parameters grouped into blocks (see module docstring), input end first."""
    out: list[list[nn.Parameter]] = []
    for p in backbone.parameters():
        if (p.ndim >= 2 and p.numel() > p.shape[0]) or not out:  # a conv/linear weight, not a (C, 1, 1) PReLU slope
            out.append([])
        out[-1].append(p)
    return out


def batchnorm_parameters(backbone: nn.Module) -> list[nn.Parameter]:
    """Scale and shift of every BatchNorm (nn.BatchNorm* layers, or an ONNX graph's nodes)."""
    if hasattr(backbone, "batchnorm_parameters"):
        return list(backbone.batchnorm_parameters())
    return [p for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            for p in (m.weight, m.bias) if p is not None]


def _keep_frozen_bn_eval(module: nn.Module, _inputs: object) -> None:
    # Forward pre-hook: while the backbone trains, a BatchNorm whose scale is frozen normalises
    # with its running statistics and does not update them; one that trains uses batch statistics.
    if module.training:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
                m.train(m.weight.requires_grad)


class Freezer:
    """Applies ``freeze`` once, and the warm-up at each step (:meth:`update`).

    Build the optimizer after construction (it takes the parameters that can train) and call
    :meth:`update` with the step before each optimisation step.
    """

    def __init__(self, backbone: nn.Module, mode: str = "none", trainable_blocks: int = 0,
                 warmup_steps: int = 0, batchnorm: bool = False) -> None:
        groups = blocks(backbone)
        if mode == "backbone":
            frozen = groups
        elif mode == "all_but_last":
            frozen = groups[:max(0, len(groups) - trainable_blocks)]
        elif mode == "none":
            frozen = []
        else:
            raise ValueError(f"model.freeze: unknown mode {mode!r}")
        if batchnorm:  # every BatchNorm as pretrained: running statistics, fixed scale and shift
            frozen = frozen + [batchnorm_parameters(backbone)]
        frozen_ids = {id(p) for b in frozen for p in b}
        for p in backbone.parameters():
            if id(p) in frozen_ids:
                p.requires_grad_(False)
        self.trainable = [p for p in backbone.parameters() if id(p) not in frozen_ids]
        self.warmup_steps = warmup_steps
        self._warming: bool | None = None
        if any(frozen) or warmup_steps:
            backbone.register_forward_pre_hook(_keep_frozen_bn_eval)
        if any(frozen):
            log.info("freeze %s%s: %d of %d blocks frozen (%d of %d backbone parameters train)", mode,
                     " + BatchNorm" if batchnorm else "", len(frozen) - int(batchnorm), len(groups), sum(p.numel() for p in self.trainable), sum(p.numel() for p in backbone.parameters()))

    def update(self, step: int) -> None:
        """During the first ``warmup_steps`` steps the backbone is frozen entirely."""
        warming = step < self.warmup_steps
        if warming != self._warming:
            for p in self.trainable:
                p.requires_grad_(not warming)
            if self._warming is not None or warming:
                log.info("step %d: backbone %s", step, "frozen (classifier warm-up)" if warming else "training")
            self._warming = warming
