"""bf16 only where the CPU runs it natively: the flag rule against hand-written cases, and the
detection on this machine against torch's own CPU probe (an independent reading of CPUID)."""
from __future__ import annotations

import pytest

from facerec.runtime.precision import cpu_bf16_capability, cpu_flags, cpu_has_native_bf16, resolve_precision

SPR = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})  # Intel Sapphire Rapids
ZEN3 = frozenset({"avx2", "fma"})                                          # AMD EPYC Zen 3
SKX = frozenset({"avx2", "avx512f"})                                       # AVX-512 without bf16


@pytest.mark.parametrize("flags,want,cap", [(SPR, "bf16", "AMX-BF16"), (ZEN3, "fp32", "none (AVX2)"),
                                            (SKX, "fp32", "none (AVX-512)"),
                                            (frozenset({"avx512_bf16"}), "bf16", "AVX512-BF16"),
                                            (frozenset(), "fp32", "none")])
def test_auto_picks_bf16_only_when_native(flags, want, cap):
    choice = resolve_precision("auto", "cpu", flags)
    assert choice.precision == want and cap in choice.reason
    assert cpu_bf16_capability(flags) == cap


def test_explicit_precision_is_kept_and_bad_names_refused():
    assert resolve_precision("bf16", "cpu", ZEN3).precision == "bf16"
    assert resolve_precision("fp32", "cpu", SPR).precision == "fp32"
    with pytest.raises(ValueError):
        resolve_precision("fp16x")


def test_this_cpu_agrees_with_torch():
    torch = pytest.importorskip("torch")
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if probe is None or not cpu_flags():
        pytest.skip("no torch CPU probe or no /proc/cpuinfo here")
    native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert cpu_has_native_bf16() == native


def test_embedder_auto_resolves(monkeypatch):
    from facerec import Embedder

    e = Embedder.create("mobilefacenet", embedding_size=32, precision="auto")
    assert e.precision == resolve_precision("auto").precision
