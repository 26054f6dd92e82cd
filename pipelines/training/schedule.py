"""Learning-rate schedule: linear warm-up, then cosine or polynomial decay (per step)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import ScheduleConfig


@dataclass(frozen=True)
class WarmupDecay:
    """Multiplier of the base lr at ``step`` (0-based): ``(step+1)/warmup`` during warm-up,
    then from 1 down to ``min_ratio`` at ``total`` steps. A callable object (not a function)
    so ``LambdaLR.state_dict`` records its parameters."""

    total: int
    warmup: int = 0
    decay: str = "cosine"
    power: float = 2.0
    min_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.decay == "constant":
            return 1.0
        span = max(1, self.total - self.warmup)
        t = min(1.0, (step - self.warmup) / span)  # progress in [0, 1]
        if self.decay == "cosine":
            f = 0.5 * (1.0 + math.cos(math.pi * t))
        elif self.decay == "poly":
            f = (1.0 - t) ** self.power
        else:
            raise ValueError(f"unknown decay {self.decay!r}")
        return self.min_ratio + (1.0 - self.min_ratio) * f


def make_schedule(cfg: ScheduleConfig, steps_per_epoch: int, epochs: int) -> WarmupDecay:
    total = steps_per_epoch * epochs
    warmup = min(total, round(cfg.warmup_epochs * steps_per_epoch))
    return WarmupDecay(total=total, warmup=warmup, decay=cfg.decay, power=cfg.power, min_ratio=cfg.min_lr_ratio)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: WarmupDecay) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
