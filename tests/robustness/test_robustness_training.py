"""Training survives SIGKILL: a run killed at random moments (mid-epoch, possibly mid-save),
then resumed, ends in exactly the state of an uninterrupted run (the oracle).

test_train_resume.py covers clean stops (max_steps, time budget), corrupt checkpoints and
NaN detection; here the process dies without any chance to clean up.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.training.checkpoint import load_state
from pipelines.training.config import config_from_dict
from pipelines.training.run_log import read_metrics
from pipelines.training.trainer import train

sys.path.insert(0, str(Path(__file__).parents[1] / "pipelines"))
from train_helpers import tiny_config, write_synthetic_crops  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys
sys.path.insert(0, "tests/pipelines")
import train_helpers  # registers the tiny backbone
from pipelines.training.config import config_from_dict
from pipelines.training.trainer import train
cfg, out, resume = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
print("started", flush=True)
train(config_from_dict(cfg), out, resume=resume)
print("finished", flush=True)
"""


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    # 8 identities × 20 images, 2 held out: 120 training images → 15 batches of 8 per epoch.
    return write_synthetic_crops(tmp_path_factory.mktemp("crops"), identities=8, per_identity=20)


def _config(crops: Path) -> dict:
    # A checkpoint after every step: kills land before, during and after checkpoint writes.
    return tiny_config(crops, train={"epochs": 3, "checkpoint_every": 1, "threads": 1})


def _run_and_kill(cfg: dict, out: Path, resume: bool, delay: float) -> bool:
    """Start a training child, SIGKILL it ``delay`` s after its first checkpoint; True if killed."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg), str(out), "1" if resume else "0"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started", proc.stderr.read()
        deadline = time.monotonic() + 60
        start_step = load_state(out / "last.pt")["step"] if resume else -1
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "last.pt").exists() and load_state(out / "last.pt")["step"] > start_step:
                break
            time.sleep(0.01)
        time.sleep(delay)
        killed = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return killed
    finally:
        if proc.poll() is None:
            proc.kill()


def _train_losses(out: Path) -> dict[int, str]:
    """Logged training loss per step; after a resume a step may be logged twice (the rows written
    between the last checkpoint and the kill): the later row must then equal the earlier one."""
    seen: dict[int, str] = {}
    for r in read_metrics(out / "metrics.csv"):
        if r["kind"] == "train":
            step = int(r["step"])
            assert seen.get(step, r["loss"]) == r["loss"], f"step {step} re-run with a different loss"
            seen[step] = r["loss"]
    return seen


def test_sigkill_mid_training_then_resume_equals_uninterrupted(crops, tmp_path):
    cfg = _config(crops)
    full = train(config_from_dict(cfg), tmp_path / "full")
    assert full.status == "finished" and full.step == 45

    out = tmp_path / "killed"
    rnd = random.Random(7)
    kills, steps_at_kill = 0, []
    for round_ in range(2):
        kills += _run_and_kill(cfg, out, resume=round_ > 0, delay=rnd.uniform(0.0, 0.3))
        state = load_state(out / "last.pt")  # never corrupt: the atomic save left old or new
        steps_at_kill.append(state["step"])
    assert kills >= 1, "the child finished before any kill: make the run longer"
    assert 0 < steps_at_kill[0] < 45

    rest = train(config_from_dict(cfg), out, resume=True)
    assert rest.status == "finished" and rest.step == 45

    a, b = load_state(tmp_path / "full" / "last.pt"), load_state(out / "last.pt")
    for part in ("model", "loss"):
        for k in a[part]:
            assert a[part][k].equal(b[part][k]), f"{part}.{k} differs from the uninterrupted run"
    assert (a["step"], a["epoch"], a["batch"]) == (b["step"], b["epoch"], b["batch"])
    assert _train_losses(out) == _train_losses(tmp_path / "full")
    # Killed atomic saves may leave their temporary files behind; never a half-written last.pt.
    leftovers = sorted(p.name for p in out.iterdir() if ".tmp" in p.name)
    assert all(p.startswith(".") for p in leftovers), leftovers
