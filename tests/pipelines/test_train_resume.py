"""Exact resumption: an interrupted-then-resumed run ends with the same weights, optimizer
and loss state as an uninterrupted run (the oracle); plus stop conditions and bad checkpoints."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from facerec import FaceRecognizer
from facerec.errors import ModelError
from pipelines.cli import main
from pipelines.training.checkpoint import load_state
from pipelines.training.config import config_from_dict
from pipelines.training.run_log import read_metrics
from pipelines.training.trainer import Trainer, TrainingError, train

from train_helpers import tiny_config, write_synthetic_crops


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    # 8 identities × 5: 2 held out, 6 × 5 = 30 training images → 3 batches of 8 per epoch.
    return write_synthetic_crops(tmp_path_factory.mktemp("crops"))


def _assert_same_state(a: dict, b: dict) -> None:
    for part in ("model", "loss"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for k in sa:
            assert torch.equal(torch.as_tensor(sa[k]), torch.as_tensor(sb[k])), f"optimizer {k} differs"
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    assert (a["step"], a["epoch"], a["batch"]) == (b["step"], b["epoch"], b["batch"])


@pytest.mark.parametrize("optim,loss,precision", [
    ("sgd", {"name": "arcface", "params": {"scale": 16.0, "margin": 0.3}}, "fp32"),
    # A-Softmax: its λ schedule (an iteration buffer stepped by the trainer) must resume too.
    ("adamw", {"name": "sphereface", "params": {}}, "bf16"),
])
def test_resume_matches_uninterrupted(crops, tmp_path, optim, loss, precision):
    d = tiny_config(crops, optim={"name": optim, "lr": 0.05 if optim == "sgd" else 3e-3}, loss=loss,
                    train={"precision": precision})
    full = train(config_from_dict(d), tmp_path / "full")
    assert full.status == "finished" and full.step == 9

    d_stop = {**d, "train": {**d["train"], "max_steps": 4}}  # stop mid-epoch 2
    part = train(config_from_dict(d_stop), tmp_path / "split")
    assert part.status == "max_steps" and part.step == 4
    rest = train(config_from_dict(d), tmp_path / "split", resume=True)
    assert rest.status == "finished" and rest.step == 9

    a, b = load_state(tmp_path / "full" / "last.pt"), load_state(tmp_path / "split" / "last.pt")
    _assert_same_state(a, b)
    if loss["name"] == "sphereface":
        assert int(b["loss"]["iteration"]) == 9
    # The interrupted run's logged losses continue where they stopped: same per-step losses.
    la = [r["loss"] for r in read_metrics(tmp_path / "full" / "metrics.csv") if r["kind"] == "train"]
    lb = [r["loss"] for r in read_metrics(tmp_path / "split" / "metrics.csv") if r["kind"] == "train"]
    assert la == lb and len(la) == 9


def test_outputs_and_embedder_export(crops, tmp_path):
    res = train(config_from_dict(tiny_config(crops)), tmp_path)
    for name in ("config.toml", "config.json", "metrics.csv", "last.pt", "best.pt", "last_embedder.pt",
                 "best_embedder.pt"):
        assert (tmp_path / name).is_file(), name
    assert res.best["metric"] == "val_acc" and res.evals
    rec = FaceRecognizer.load(tmp_path / "best_embedder.pt")
    meta = rec.embedder.metadata
    assert meta["dataset"] == {"train_identities": 6, "train_images": 30, "val_identities": 2, "val_images": 10}
    assert math.isclose(rec.threshold, res.best["threshold"])
    assert meta["training"]["model"]["backbone"] == "tiny_test_cnn"
    # The exported backbone equals the training state's backbone.
    state = load_state(tmp_path / "last.pt")
    emb_sd = torch.load(tmp_path / "last_embedder.pt", weights_only=True)["state_dict"]
    for k, v in state["model"].items():
        assert torch.equal(v, emb_sd[k])


def test_time_budget_stops_after_saving_and_resumes(crops, tmp_path):
    d = tiny_config(crops, train={"max_minutes": 1e-9})
    res = train(config_from_dict(d), tmp_path)
    assert res.status == "time_budget" and res.step == 1
    assert load_state(tmp_path / "last.pt")["step"] == 1
    d["train"]["max_minutes"] = 0.0
    assert train(config_from_dict(d), tmp_path, resume=True).step == 9


def test_resume_refuses_changed_config(crops, tmp_path):
    d = tiny_config(crops, train={"max_steps": 2})
    train(config_from_dict(d), tmp_path)
    d["optim"]["lr"] = 0.5
    with pytest.raises(TrainingError, match="optim.lr"):
        train(config_from_dict(d), tmp_path, resume=True)


def test_non_finite_loss_names_the_step(crops, tmp_path):
    t = Trainer(config_from_dict(tiny_config(crops)), tmp_path)
    with torch.no_grad():
        t.backbone.fc.weight.fill_(float("nan"))
    with pytest.raises(TrainingError, match="at step 0"):
        t.fit()


def test_missing_and_corrupt_checkpoint_are_clear_errors(crops, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\nroot = "{crops}"\nval_identities = 2\n[model]\nbackbone = "tiny_test_cnn"\n'
                   f'embedding_size = 16\n[train]\nprogress = false\nbatch_size = 8\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(out), "--resume"]) == 2
    assert "no training checkpoint" in capsys.readouterr().err
    out.mkdir()
    (out / "last.pt").write_bytes(b"PK\x03\x04 this is not a checkpoint")
    assert main(["train", "--config", str(cfg), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "corrupt training checkpoint" in err and "Traceback" not in err
    with pytest.raises(ModelError, match="corrupt"):
        load_state(out / "last.pt")


def _tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_init_from_training_state_takes_backbone_and_matching_head(crops, tmp_path):
    """``model.init`` pointing at a run's last.pt starts a new schedule from its backbone and,
    for the same classes, its loss head; other classes get a fresh head. The oracle is the
    state file itself."""
    d = tiny_config(crops)
    train(config_from_dict(d), tmp_path / "src")
    src = load_state(tmp_path / "src" / "last.pt")

    same = Trainer(config_from_dict({**d, "model": {**d["model"], "init": str(tmp_path / "src" / "last.pt")}}),
                   tmp_path / "same")
    assert same.step == 0  # a new schedule, not a resume
    assert _tensors_equal(same.backbone.state_dict(), src["model"])
    assert _tensors_equal(same.head.state_dict(), src["loss"])

    # One more held-out identity: the class list differs, so the head must not be taken.
    d_other = {**d, "data": {**d["data"], "val_identities": 3},
               "model": {**d["model"], "init": str(tmp_path / "src" / "last.pt")}}
    other = Trainer(config_from_dict(d_other), tmp_path / "other")
    assert _tensors_equal(other.backbone.state_dict(), src["model"])
    assert list(other.train_ds.classes) != list(src["classes"])
    assert not _tensors_equal(other.head.state_dict(), src["loss"])


def test_init_from_embedder_checkpoint_takes_backbone(crops, tmp_path):
    d = tiny_config(crops)
    train(config_from_dict(d), tmp_path / "src")
    emb = tmp_path / "src" / "last_embedder.pt"
    t = Trainer(config_from_dict({**d, "model": {**d["model"], "init": str(emb)}}), tmp_path / "new")
    assert _tensors_equal(t.backbone.state_dict(), FaceRecognizer.load(emb).embedder.model.state_dict())


def test_a_run_that_fine_tuned_an_onnx_graph_starts_the_next_run(crops, tmp_path):
    """Run 1 fine-tunes a foreign BGR ONNX graph (``model.init`` with its input spec); run 2
    starts from run 1's ``last.pt`` — with the ONNX file gone and ``model.backbone`` left at
    its default — and gets run 1's architecture, weights and preprocessing (the oracle: run 1's
    state file and its exported embedder)."""
    pytest.importorskip("onnx")
    from train_helpers import tiny_onnx_embedder

    from facerec.runtime.embedder import Embedder

    graph = tiny_onnx_embedder(tmp_path / "foreign.onnx")
    d = tiny_config(crops, model={"init": str(graph), "init_color": "bgr", "init_scale": 1.0,
                                  "init_mean": [127.5, 127.5, 127.5], "init_std": [128.0, 128.0, 128.0]},
                    train={"epochs": 1, "max_steps": 2})
    train(config_from_dict(d), tmp_path / "run1")
    resumed = Trainer(config_from_dict({**d, "train": {**d["train"], "max_steps": 3}}), tmp_path / "run1",
                      resume=True)
    assert resumed.step == 2 and resumed.fit().step == 3  # --resume of that run goes on
    state = load_state(tmp_path / "run1" / "last.pt")
    assert state["backbone"] == "onnx_graph" and state["preprocessing"]["color"] == "bgr" and state["step"] == 3
    graph.unlink()  # run 2 needs nothing but the state

    model2 = {k: v for k, v in d["model"].items() if not k.startswith("init_")}
    d2 = {**d, "model": {**model2, "backbone": "mobilefacenet", "init": str(tmp_path / "run1" / "last.pt")}}
    second = Trainer(config_from_dict(d2), tmp_path / "run2")
    assert second.backbone_name == "onnx_graph" and second.step == 0
    assert _tensors_equal(second.backbone.state_dict(), state["model"])
    first = Embedder.load(tmp_path / "run1" / "last_embedder.pt")
    assert second.preprocessing == first.preprocessing and second.preprocessing.color == "bgr"
    res = second.fit()
    assert res.step == 2  # a new schedule: max_steps counts from 0
    moved = Embedder.load(tmp_path / "run2" / "last_embedder.pt")
    assert moved.backbone_name == "onnx_graph" and moved.preprocessing == first.preprocessing
    assert not _tensors_equal(moved.model.state_dict(), first.model.state_dict())  # run 2 trained on


def test_resume_of_a_state_saved_before_a_config_key_existed(crops, tmp_path):
    """A state whose saved config lacks a key added since (here model.init_color) and the
    backbone record resumes: the missing key takes its default, the backbone comes from the
    config. Oracle: the state file's own step and weights."""
    from pipelines.training.checkpoint import save_state

    d = tiny_config(crops, train={"epochs": 1, "max_steps": 1})
    train(config_from_dict(d), tmp_path / "run")
    state = load_state(tmp_path / "run" / "last.pt")
    for key in ("backbone", "backbone_kwargs", "preprocessing", "format", "version"):
        state.pop(key)
    state["config"]["model"].pop("init_color")
    save_state(state, tmp_path / "run" / "last.pt")
    t = Trainer(config_from_dict({**d, "train": {**d["train"], "max_steps": 2}}), tmp_path / "run", resume=True)
    assert t.step == 1 and _tensors_equal(t.backbone.state_dict(), state["model"])
