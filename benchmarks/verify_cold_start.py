"""Cold-start wall time of ``facerec verify A B`` (a fresh process per run), with a breakdown.

    python -m benchmarks.verify_cold_start [--reps 3] [--backbones mobilefacenet iresnet50]

Each run is a new subprocess: interpreter start, imports, model load, MTCNN on two real LFW
images, two embeddings. Uses the shipped default model when ``facerec/weights/default.pt``
exists; otherwise a random-weight model of each ``--backbones`` saved to a temporary folder
(said so in the output; the timing does not depend on the weights) with ``--threshold 0.5``.
Also timed, to split the total: ``python -c pass`` and ``python -c "import pipelines.cli"``.
Wall time and the child's CPU time (user + sys; more than wall when it uses both cores, a
contention-free lower bound when the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from facerec import Embedder
from facerec.recognizer import DEFAULT_WEIGHTS
from pipelines.paths import data_dir

REPO = Path(__file__).resolve().parents[1]
DATA = data_dir()


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(cmd: list[str], reps: int) -> tuple[list[float], list[float], str]:
    """(wall seconds, CPU seconds of the child) per run, and the last stdout."""
    wall, cpu, out = [], [], ""
    for _ in range(reps):
        t0, c0 = time.perf_counter(), _children_cpu()
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall.append(time.perf_counter() - t0)
        cpu.append(_children_cpu() - c0)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()[-500:]}")
        out = res.stdout
    return wall, cpu, out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--backbones", nargs="+", default=["mobilefacenet", "iresnet50"],
                    help="random-weight models to time when no default model exists")
    ap.add_argument("--out", default="out/verify_cold_start.json")
    args = ap.parse_args(argv)

    a = DATA / "lfw" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    b = DATA / "lfw" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    exe = shutil.which("facerec", path=str(Path(sys.executable).parent))
    base = [exe] if exe else [sys.executable, "-m", "pipelines.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="facerec-cold-"))
    models: list[tuple[str, list[str]]] = []
    if DEFAULT_WEIGHTS.is_file():
        models.append(("default model", []))
        note = f"shipped default model {DEFAULT_WEIGHTS}"
    else:
        for name in args.backbones:
            path = tmp / f"{name}.pt"
            Embedder.create(name).save(path)
            models.append((f"{name} (random weights)", ["--weights", str(path), "--threshold", "0.5"]))
        note = f"no default model at {DEFAULT_WEIGHTS}: random-weight models saved to {tmp}"
    print(f"{note}\ncommand: {' '.join(Path(x).name if i == 0 else x for i, x in enumerate(base))} verify A B --json; "
          f"{args.reps} runs each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} shared cores\n")
    rows = []
    steps = [("python -c pass", [sys.executable, "-c", "pass"]),
             ("import pipelines.cli", [sys.executable, "-c", "import pipelines.cli"])]
    steps += [(f"verify, {label}", base + ["verify", str(a), str(b), "--json", *extra]) for label, extra in models]
    hdr = f"{'what':<45} {'median s':>9} {'min s':>7} {'max s':>7} {'CPU s':>6}"
    print(hdr + "\n" + "-" * len(hdr))
    for label, cmd in steps:
        wall, cpu, out = _run(cmd, args.reps)
        row = {"what": label, "runs_s": wall, "median_s": statistics.median(wall), "cpu_s": cpu,
               "median_cpu_s": statistics.median(cpu)}
        if out.strip().startswith("{"):
            row["output"] = json.loads(out)
        rows.append(row)
        print(f"{label:<45} {row['median_s']:>9.2f} {min(wall):>7.2f} {max(wall):>7.2f} "
              f"{row['median_cpu_s']:>6.2f}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"note": note, "rows": rows}, indent=2))
    print(f"\nJSON: {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
