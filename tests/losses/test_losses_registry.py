"""Registry, shapes, validation (ValueError), the λ schedule, state dicts, and the
layering rule that ``losses/`` imports nothing but torch and the standard library."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

import losses
from losses import LOSSES, Margin, create_loss, loss_defaults

NAMES = {
    "softmax",
    "normface",
    "sphereface",
    "sphereface_norm",
    "cosface",
    "arcface",
    "combined",
    "subcenter_arcface",
    "adaface",
}


def test_registry_names():
    assert set(LOSSES) == NAMES and len(LOSSES) == len(NAMES)


@pytest.mark.parametrize("name", LOSSES)
def test_create_shapes_and_scalar_loss(name):
    loss = create_loss(name, 7, 4)
    assert isinstance(loss, torch.nn.Module)
    rows = 4 * (3 if name == "subcenter_arcface" else 1)
    assert tuple(loss.weight.shape) == (rows, 7)
    assert isinstance(loss.weight, torch.nn.Parameter)
    assert any(p is loss.weight for p in loss.parameters())
    value = loss(torch.randn(5, 7), torch.tensor([0, 1, 2, 3, 0]))
    assert value.shape == () and value.dtype == torch.float32
    repr(loss)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("softmax", {"bias": True}),
        ("normface", {"scale": 20.0}),
        ("cosface", {"scale": 64.0, "margin": 0.35}),
        ("arcface", {"scale": 64.0, "margin": 0.5, "easy_margin": False}),
        ("sphereface_norm", {"scale": 64.0, "margin": 1.35}),
        ("combined", {"scale": 64.0, "m1": 1.0, "m2": 0.3, "m3": 0.2}),
        ("subcenter_arcface", {"scale": 64.0, "margin": 0.5, "sub_centers": 3}),
        ("adaface", {"scale": 64.0, "margin": 0.4, "h": 0.333, "t_alpha": 0.01}),
        (
            "sphereface",
            {"margin": 4, "lambda_base": 1000.0, "lambda_gamma": 0.12, "lambda_power": 1.0, "lambda_min": 5.0},
        ),
    ],
)
def test_paper_defaults(name, expected):
    assert loss_defaults(name) == expected


def test_presets_are_margins():
    loss = create_loss("arcface", 3, 2)
    assert loss.margin == Margin(64.0, m2=0.5)
    assert create_loss("cosface", 3, 2).margin == Margin(64.0, m3=0.35)
    assert create_loss("sphereface_norm", 3, 2, margin=2).margin == Margin(64.0, m1=2.0)
    assert create_loss("combined", 3, 2).margin == Margin(64.0, 1.0, 0.3, 0.2)
    with pytest.raises(Exception):  # frozen
        loss.margin.scale = 1.0  # type: ignore[misc]


BAD_HYPER = [
    ("nosuchloss", {}),
    ("arcface", {"s": 64}),  # unknown hyperparameter
    ("arcface", {"m1": 1.2}),  # combined-only
    ("cosface", {"easy_margin": True}),
    ("normface", {"scale": 0.0}),
    ("normface", {"scale": -1.0}),
    ("cosface", {"scale": float("nan")}),
    ("cosface", {"margin": -0.1}),
    ("arcface", {"margin": -0.5}),
    ("arcface", {"margin": float("inf")}),
    ("arcface", {"easy_margin": 1}),
    ("sphereface_norm", {"margin": 0.9}),  # m1 < 1
    ("combined", {"m1": 0.9}),
    ("combined", {"m2": -0.1}),
    ("combined", {"m3": -0.1}),
    ("combined", {"scale": "64"}),
    ("sphereface", {"margin": 1.5}),  # A-Softmax needs an integer m
    ("sphereface", {"margin": 0}),
    ("sphereface", {"margin": True}),
    ("sphereface", {"lambda_base": -1.0}),
    ("sphereface", {"lambda_gamma": -0.1}),
    ("sphereface", {"lambda_power": -1.0}),
    ("sphereface", {"lambda_min": -5.0}),
    ("subcenter_arcface", {"sub_centers": 0}),
    ("subcenter_arcface", {"sub_centers": 2.5}),
    ("adaface", {"margin": -0.4}),
    ("adaface", {"h": 0.0}),
    ("adaface", {"t_alpha": 0.0}),
    ("adaface", {"t_alpha": 1.5}),
    ("adaface", {"scale": 0}),
    ("softmax", {"bias": "yes"}),
    ("softmax", {"scale": 64.0}),
]


@pytest.mark.parametrize("name,hyper", BAD_HYPER)
def test_invalid_hyperparameters_raise_value_error(name, hyper):
    with pytest.raises(ValueError):
        create_loss(name, 8, 4, **hyper)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dim,classes", [(0, 4), (8, 0), (-1, 4), (8.0, 4), (8, True)])
def test_invalid_sizes_raise_value_error(name, dim, classes):
    with pytest.raises(ValueError):
        create_loss(name, dim, classes)


@pytest.mark.parametrize("name", LOSSES)
def test_invalid_inputs_raise_value_error(name):
    loss = create_loss(name, 4, 3)
    x = torch.randn(5, 4)
    bad = [
        (x, torch.tensor([0, 1, 2, 3, 0])),  # label == num_classes
        (x, torch.tensor([0, 1, -1, 2, 0])),  # negative label
        (x, torch.tensor([0.0, 1, 2, 0, 1])),  # float labels
        (x, torch.tensor([0, 1, 2])),  # length mismatch
        (x, torch.zeros(5, 1, dtype=torch.long)),  # 2-D labels
        (torch.randn(5, 3), torch.zeros(5, dtype=torch.long)),  # wrong D
        (torch.randn(5), torch.zeros(5, dtype=torch.long)),  # 1-D embeddings
        (torch.ones(5, 4, dtype=torch.long), torch.zeros(5, dtype=torch.long)),  # int embeddings
        (torch.randn(0, 4), torch.zeros(0, dtype=torch.long)),  # empty batch
    ]
    for emb, labels in bad:
        with pytest.raises(ValueError):
            loss(emb, labels)


def test_margin_dataclass_validation():
    for kwargs in ({"scale": 0}, {"scale": 1, "m1": 0.5}, {"scale": 1, "m2": -1}, {"scale": 1, "m3": -1}):
        with pytest.raises(ValueError):
            Margin(**kwargs)
    assert Margin(2).m1 == 1.0


# ------------------------------------------------------------------ λ schedule


def test_lambda_schedule_api():
    loss = create_loss("sphereface", 4, 3)
    assert int(loss.iteration) == 0 and loss.lambda_ == 1000.0
    loss.step()
    assert loss.lambda_ == pytest.approx(1000.0 / 1.12)
    loss.step(9)
    assert int(loss.iteration) == 10 and loss.lambda_ == pytest.approx(1000.0 / 2.2)
    loss.set_iteration(100_000)
    assert loss.lambda_ == 5.0  # lambda_min
    # λ = 5 from it ≥ (1000/5 − 1)/0.12 = 1658.33…
    loss.set_iteration(1658)
    assert loss.lambda_ > 5.0
    loss.set_iteration(1659)
    assert loss.lambda_ == 5.0
    custom = create_loss("sphereface", 4, 3, lambda_base=10, lambda_gamma=1, lambda_power=2, lambda_min=0.5)
    custom.set_iteration(1)
    assert custom.lambda_ == pytest.approx(10 * 2.0**-2)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            loss.set_iteration(bad)


def test_lambda_is_checkpointed():
    loss = create_loss("sphereface", 4, 3)
    loss.set_iteration(321)
    state = loss.state_dict()
    assert int(state["iteration"]) == 321
    fresh = create_loss("sphereface", 4, 3)
    fresh.load_state_dict(state)
    assert int(fresh.iteration) == 321 and fresh.lambda_ == loss.lambda_
    assert loss.half().iteration.dtype == torch.long  # not cast with the module


def test_adaface_running_stats_are_checkpointed():
    loss = create_loss("adaface", 4, 3)
    for _ in range(3):
        loss(torch.randn(8, 4) * 5, torch.arange(8) % 3)
    state = loss.state_dict()
    assert {"batch_mean", "batch_std"} <= set(state)
    assert float(state["batch_mean"]) != 20.0 and float(state["batch_std"]) != 100.0
    fresh = create_loss("adaface", 4, 3)
    fresh.load_state_dict(state)
    assert float(fresh.batch_mean) == float(loss.batch_mean)
    assert float(fresh.batch_std) == float(loss.batch_std)
    # eval mode leaves them alone; a batch of one updates only the mean
    fresh.eval()
    before = (float(fresh.batch_mean), float(fresh.batch_std))
    fresh(torch.randn(4, 4), torch.arange(4) % 3)
    assert (float(fresh.batch_mean), float(fresh.batch_std)) == before
    fresh.train()
    fresh(torch.randn(1, 4), torch.tensor([0]))
    assert float(fresh.batch_std) == before[1] and float(fresh.batch_mean) != before[0]
    assert math.isfinite(float(fresh.batch_mean))


@pytest.mark.parametrize("name", LOSSES)
def test_state_dict_round_trip_same_loss(name):
    torch.manual_seed(0)
    a = create_loss(name, 6, 4)
    b = create_loss(name, 6, 4)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 3, 1])
    assert torch.equal(a(x, y), b(x, y))


# ---------------------------------------------------------------- layering rule

ALLOWED_IMPORTS = {"__future__", "torch", "math", "numbers", "dataclasses", "inspect", "types", "typing"}


def test_losses_package_imports_only_torch_and_stdlib():
    root = Path(losses.__file__).parent
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0:  # relative: inside losses/
                    continue
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                assert top in ALLOWED_IMPORTS, f"{path.name} imports {top}"


def test_no_print_in_library_code():
    root = Path(losses.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        calls = [
            n for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not calls, path.name


def test_margin_presets_have_one_home() -> None:
    """The registry's defaults are read from losses.margin's PRESETS (and margin_for gives the
    exact Margin create_loss applies), so changing a preset changes both."""
    from losses import PRESETS, create_loss, loss_defaults, margin_for

    fields = {"normface": {}, "sphereface_norm": {"margin": "m1"}, "cosface": {"margin": "m3"},
              "arcface": {"margin": "m2"}, "combined": {"m1": "m1", "m2": "m2", "m3": "m3"}}
    for name, to_field in fields.items():
        preset = PRESETS[name]
        d = loss_defaults(name)
        assert d["scale"] == preset.scale
        assert all(d[h] == getattr(preset, f) for h, f in to_field.items())
        assert margin_for(name) == preset
        assert create_loss(name, 8, 3).margin == margin_for(name)
    assert margin_for("arcface", margin=0.3).m2 == 0.3
    for name in ("softmax", "sphereface", "adaface", "subcenter_arcface"):
        with pytest.raises(ValueError, match="margin loss"):
            margin_for(name)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        margin_for("cosface", m2=0.1)
