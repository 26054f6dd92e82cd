"""The one rule for choosing the compute precision: bf16 only where the hardware runs it natively.

On CPUs, bf16 autocast is fast only with AMX-BF16 or AVX512-BF16 instructions (Intel Xeon
Sapphire Rapids and later, AMD Zen 4 and later); elsewhere (e.g. an AVX2-only AMD EPYC Zen 3)
oneDNN emulates it and it is several times *slower* than fp32. ``"auto"`` therefore picks
bf16 where it is native and fp32 otherwise, and says why. No torch import for the CPU check
(the CPU flags come from ``/proc/cpuinfo``); CUDA is asked through torch only for a CUDA device.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: CPU flags (as Linux names them in /proc/cpuinfo) that mean native bf16 arithmetic.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
CHOICES = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision to run in and the reason, for logs and benchmark tables."""

    precision: str  # "fp32" or "bf16"
    reason: str


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where unavailable, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_bf16_capability(flags: frozenset[str] | None = None) -> str:
    """A short description of the CPU's bf16 support: ``"AMX-BF16"``, ``"AVX512-BF16"``,
    ``"none (AVX-512)"``, ``"none (AVX2)"`` or ``"none"``."""
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    if "avx512f" in flags:
        return "none (AVX-512)"
    if "avx2" in flags:
        return "none (AVX2)"
    return "none"


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU computes bf16 natively (AMX or AVX512-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def resolve_precision(requested: str, device: str = "cpu", flags: frozenset[str] | None = None) -> PrecisionChoice:
    """``"fp32"``/``"bf16"`` stay as asked; ``"auto"`` becomes bf16 where it is native on
    ``device`` (CPU: AMX/AVX512-BF16 flags; CUDA: ``torch.cuda.is_bf16_supported()``), else fp32."""
    if requested not in CHOICES:
        raise ValueError(f"precision must be one of {CHOICES}, got {requested!r}")
    if requested != "auto":
        return PrecisionChoice(requested, "asked for")
    if str(device) == "auto":  # the training config's device: CUDA when there is one
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return PrecisionChoice("bf16", "auto: this CUDA device supports bf16")
        return PrecisionChoice("fp32", "auto: this CUDA device has no bf16")
    cap = cpu_bf16_capability(flags)
    if cpu_has_native_bf16(flags):
        return PrecisionChoice("bf16", f"auto: the CPU has native bf16 ({cap})")
    return PrecisionChoice("fp32", f"auto: the CPU has no native bf16 ({cap}; bf16 would be emulated and slow)")
