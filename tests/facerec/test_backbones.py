"""Every registered backbone: shape, forward/backward, no NaN; the registry is strict."""
from __future__ import annotations

import pytest
import torch

from facerec.backbones import create_backbone, list_backbones, register_backbone

EXPECTED = {"iresnet18", "iresnet34", "iresnet50", "iresnet100", "mobilefacenet", "sphereface20"}
# Parameter counts of the reference implementations (insightface arcface_torch, 512-d).
PARAMS_M = {"iresnet50": 43.59, "iresnet100": 65.16}


def test_registry_contents():
    assert EXPECTED <= set(list_backbones())


# onnx_graph is built from a pretrained ONNX graph, not from sizes: tests/facerec/test_models.py
# and tests/pipelines/test_finetune.py train and rebuild it from SFace's.
@pytest.mark.parametrize("name", [b for b in list_backbones() if b != "onnx_graph"])
def test_forward_backward(name):
    torch.manual_seed(0)
    m = create_backbone(name, embedding_size=128)
    h, w = m.input_size
    x = torch.randn(2, 3, h, w, requires_grad=True)
    y = m(x)
    assert y.shape == (2, 128) and torch.isfinite(y).all()
    y.pow(2).sum().backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["mobilefacenet", "iresnet18"])
def test_channels_last_bf16_agree_with_fp32(name):
    torch.manual_seed(0)
    m = create_backbone(name).eval()
    x = torch.randn(4, 3, 112, 112)
    with torch.inference_mode():
        ref = m(x)
        m_cl = m.to(memory_format=torch.channels_last)
        cl = m_cl(x.contiguous(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf = m_cl(x.contiguous(memory_format=torch.channels_last)).float()
    # Random-init activations are large (eval BN with fresh statistics), so compare directions.
    cos = torch.nn.functional.cosine_similarity
    assert cos(cl, ref).min() > 0.99999
    assert cos(bf, ref).min() > 0.98


@pytest.mark.parametrize("name,params", PARAMS_M.items())
def test_parameter_count_matches_reference(name, params):
    m = create_backbone(name)
    assert abs(sum(p.numel() for p in m.parameters()) / 1e6 - params) < 0.01


def test_registry_is_strict():
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("iresnet50")(lambda **kw: None)
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone("resnet9000")
    with pytest.raises(ValueError):
        create_backbone("iresnet18", input_size=(100, 100))
