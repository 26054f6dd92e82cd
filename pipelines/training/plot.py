"""Training curves from a run's ``metrics.csv``: loss and learning rate by step, and the
verification accuracies (held-out identities, pairs file) at each evaluation."""
from __future__ import annotations

import csv
import os
from pathlib import Path

from ..extras import require


def _column(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) not in (None, "")]


def plot_training_curves(metrics_csv: str | os.PathLike, out_png: str | os.PathLike, title: str = "") -> Path:
    """Write a two-panel PNG (loss + lr; accuracies) from ``metrics_csv``; returns its path."""
    require("plot", "matplotlib").use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    train = [r for r in rows if r["kind"] == "train" and r.get("loss")]
    evals = [r for r in rows if r["kind"] == "eval"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(_column(train, "step"), _column(train, "loss"), color="tab:blue", lw=1)
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss", color="tab:blue")
    lr_ax = ax1.twinx()
    lr_ax.plot(_column(train, "step"), _column(train, "lr"), color="tab:gray", lw=1, ls="--")
    lr_ax.set_ylabel("learning rate", color="tab:gray")
    for key, label in (("val_acc", "held-out identities"), ("pairs_acc", "pairs file (e.g. LFW)")):
        pts = [(float(r["step"]), 100 * float(r[key])) for r in evals if r.get(key)]
        if pts:
            ax2.plot(*zip(*pts), marker="o", label=label)
    ax2.set_xlabel("step")
    ax2.set_ylabel("verification accuracy (%)")
    ax2.grid(alpha=0.3)
    if ax2.lines:
        ax2.legend()
    fig.suptitle(title or str(Path(metrics_csv).parent.name))
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
