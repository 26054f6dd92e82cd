"""The ORL smoke run end to end through the CLI: train (interrupted) → checkpoint → resume →
evaluate. Real faces (ORL, identity-disjoint split), the shipped preset, MobileFaceNet.

The oracle is the untrained network: training must lower the loss and raise held-out
verification, measured independently by scikit-learn's ROC AUC over all held-out pairs of the
best checkpoint against the same network before training.

The verdict must not depend on the CPU: the run is fp32 (bf16 is native on AMX CPUs but
emulated on AVX2-only ones, and the two round differently), and it asks nothing of the
trainer's k-fold accuracy beyond its range: on a few hundred pairs it moves by ±0.04 between
machines (seen on an AVX2 AMD EPYC with emulated bf16: 0.822 untrained, best 0.787 trained),
while the AUC over all held-out pairs rises by well over the margin asked for (see below)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from facerec import Embedder, FaceRecognizer
from pipelines.cli import main
from pipelines.training.data import load_crop, scan_identities, split_identities
from pipelines.training.run_log import read_metrics
from pipelines.training.trainer import build_backbone, resolved_config_from_run

# A cut-down orl_smoke (15 people: 10 train, 5 held out; 2 epochs of 5 steps) to stay fast.
SMALL = ["--set", "data.max_identities=15", "--set", "data.val_identities=5", "--set", "train.batch_size=20",
         "--set", "train.epochs=2", "--set", "eval.at_start=true", "--set", "eval.flip=false",
         "--set", "train.progress=false", "--set", "train.log_every=1", "--set", "train.precision=fp32"]


def _held_out_auc(embedder: Embedder, crops: np.ndarray, owner: np.ndarray) -> float:
    e = embedder.embed(crops)
    sims = e @ e.T
    iu = np.triu_indices(len(e), 1)
    return float(roc_auc_score(owner[iu[0]] == owner[iu[1]], sims[iu]))


@pytest.mark.slow
def test_orl_smoke_train_resume_evaluate(orl_dir, tmp_path, capsys):
    out = tmp_path / "run"
    root = ["--set", f"data.root={orl_dir}"]
    assert main(["train", "--config", "orl_smoke", "--out", str(out), *root, *SMALL, "--set", "train.max_steps=4"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["status"] == "max_steps" and first["step"] == 4
    assert main(["train", "--resume", "--out", str(out), "--set", "train.max_steps=0"]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done["status"] == "finished" and done["step"] == 10

    rows = read_metrics(out / "metrics.csv")
    from PIL import Image

    assert Image.open(out / "curves.png").size[0] > 500  # the training-curve plot of the run
    train_loss = [float(r["loss"]) for r in rows if r["kind"] == "train"]
    assert len(train_loss) == 10
    assert np.mean(train_loss[-3:]) < 0.7 * np.mean(train_loss[:3]), train_loss
    evals = [r for r in rows if r["kind"] == "eval"]
    assert evals[0]["step"] == "0"
    accs = [float(r["val_acc"]) for r in evals]
    assert len(accs) >= 3 and all(0.5 <= a <= 1.0 for a in accs), accs  # at start and after each epoch

    # Evaluate the exported model independently on the held-out people.
    cfg = resolved_config_from_run(out)
    split = split_identities(scan_identities(cfg.data.root, 2, cfg.data.max_identities), cfg.data.val_identities,
                             cfg.train.seed)
    files = [(k, f) for k, ident in enumerate(split.val) for f in ident.files]
    crops = np.stack([load_crop(f, cfg.data) for _, f in files])
    owner = np.array([k for k, _ in files])
    rec = FaceRecognizer.load(out / "best_embedder.pt")
    assert rec.runtime == "torch"
    assert rec.threshold == pytest.approx(float(json.loads(json.dumps(done["best"]))["threshold"]))
    # The same initial weights as the run (the trainer seeds torch, then builds the backbone first).
    torch.manual_seed(cfg.train.seed)
    init = Embedder(build_backbone(cfg)[0], cfg.model.backbone, rec.embedder.preprocessing)
    auc_init, auc_trained = _held_out_auc(init, crops, owner), _held_out_auc(rec.embedder, crops, owner)
    # Measured on an AMX Xeon: 0.857 → 0.925 in fp32 (this test), 0.857 → 0.939 with bf16; the
    # margin asked is 0.04, below both rises (fp32 runs the same arithmetic on AVX2 CPUs).
    assert auc_trained > auc_init + 0.04, (auc_init, auc_trained)
