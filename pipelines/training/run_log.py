"""Training metrics: one CSV (appended across resumes) and TensorBoard when installed."""
from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COLUMNS = ("kind", "step", "epoch", "elapsed_s", "lr", "loss", "img_per_s", "val_acc", "val_std",
           "val_threshold", "pairs_acc", "pairs_std", "pairs_threshold", "pairs_fallbacks", "margin_loss", "distill_loss")


class MetricsLog:
    """Rows of :data:`COLUMNS` in ``out_dir/metrics.csv``; scalars mirrored to TensorBoard."""

    def __init__(self, out_dir: str | Path, tensorboard: bool = True) -> None:
        self.path = Path(out_dir) / "metrics.csv"
        new = not self.path.is_file() or self.path.stat().st_size == 0
        self._f = open(self.path, "a", newline="", encoding="utf-8")
        self._w = csv.DictWriter(self._f, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            self._w.writeheader()
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(out_dir) / "tensorboard"))
            except ImportError:  # tensorboard not installed: CSV only
                log.info("tensorboard not installed; metrics go to %s only", self.path)

    def write(self, kind: str, **values: Any) -> None:
        row = {"kind": kind, **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()}}
        self._w.writerow(row)
        self._f.flush()
        if self._tb is not None:
            for k, v in values.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(f"{kind}/{k}", v, values.get("step", 0))

    def close(self) -> None:
        self._f.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: str | Path) -> list[dict[str, str]]:
    """Rows of a metrics CSV (strings; empty where a column does not apply)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
