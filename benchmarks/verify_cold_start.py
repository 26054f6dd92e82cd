"""Cold and warm cost of ``facerec verify A B`` per named model and runtime, side by side in one run.

    python -m benchmarks.verify_cold_start [--reps 5] [--parts cold warm embed gallery]
                                           [--models sface facerec-mbf-v2]
                                           [--people 8 --photos 5 --searches 40]

``cold``: each row is a fresh subprocess, timed ``--reps`` times (median, min, max of wall time
and the child's CPU time, user + sys): the floors ``python -c pass``, ``import onnxruntime, cv2``
and ``import torch``, then ``facerec verify A B --json`` on two real LFW photos with each model
on the ONNX runtime (the default; the first model is the default model) and with the default
model on torch (``--runtime torch``).
``warm``: in one process per model and runtime, ``FaceRecognizer.verify`` on LFW pairs after
one warm-up call: wall and process CPU per pair.
``embed``: embedding throughput of each model on aligned LFW crops (batches of 32) on onnxruntime
and on torch (fp32; bf16 too where the CPU has it natively).
``gallery``: the CLI-driven ORL gallery a script would run: ``facerec enroll`` once per person
(``--people`` × ``--photos`` photos, one process each) and ``facerec search`` once per photo
(``--searches`` processes, the people's other photos), on each runtime: total wall and CPU.

CPU time is the contention-free figure on a shared machine; wall time includes waiting for it.
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
from typing import Any, Sequence

from pipelines.paths import data_dir

REPO = Path(__file__).resolve().parents[1]
DATA = data_dir()
RUNTIMES = ("onnx", "torch")


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
        if res.returncode not in (0, 1):  # search/enroll exit 1 for "nothing found", still timed
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()[-500:]}")
        out = res.stdout
    return wall, cpu, out


def _cli() -> list[str]:
    """``facerec`` as this checkout's module (the installed entry point may import another
    checkout; ``-m`` puts the working directory first on sys.path). Same start-up cost."""
    return [sys.executable, "-m", "pipelines.cli"]


def cold(reps: int, a: Path, b: Path, models: Sequence[str]) -> list[dict[str, Any]]:
    cli = _cli()
    default = f"facerec verify A B (onnx, default = {models[0]})"
    steps = [("python -c pass", [sys.executable, "-c", "pass"]),
             ("import onnxruntime, cv2", [sys.executable, "-c", "import onnxruntime, cv2"]),
             ("import torch", [sys.executable, "-c", "import torch"]),
             (default, cli + ["verify", str(a), str(b), "--json"]),
             *[(f"facerec verify A B --model {m}", cli + ["verify", str(a), str(b), "--json", "--model", m])
               for m in models[1:]],
             (f"facerec verify A B --runtime torch ({models[0]})",
              cli + ["verify", str(a), str(b), "--json", "--runtime", "torch"])]
    rows = []
    hdr = f"{'cold start (fresh process)':<40} {'median s':>9} {'min s':>7} {'max s':>7} {'CPU s':>6}"
    print(hdr + "\n" + "-" * len(hdr))
    for label, cmd in steps:
        wall, cpu, out = _run(cmd, reps)
        row: dict[str, Any] = {"what": label, "runs_s": wall, "median_s": statistics.median(wall), "cpu_s": cpu,
                               "median_cpu_s": statistics.median(cpu)}
        if out.strip().startswith("{"):
            row["output"] = json.loads(out)
        rows.append(row)
        print(f"{label:<40} {row['median_s']:>9.2f} {min(wall):>7.2f} {max(wall):>7.2f} "
              f"{row['median_cpu_s']:>6.2f}", flush=True)
    by = {r["what"]: r for r in rows}
    floor = by["import onnxruntime, cv2"]
    for label in [label for label, _ in steps[3:]]:
        r = by[label]
        print(f"{label}: {r['median_s'] / floor['median_s']:.1f}x the onnxruntime+cv2 floor (wall), "
              f"{r['median_cpu_s'] / floor['median_cpu_s']:.1f}x (CPU)")
    return rows


def warm(pairs: int, models: Sequence[str]) -> list[dict[str, Any]]:
    from facerec import FaceRecognizer

    files = sorted((DATA / "lfw" / "George_W_Bush").glob("*.jpg"))[: pairs + 1]
    rows = []
    print(f"\n{'warm verify (per pair)':<40} {'wall ms':>9} {'CPU ms':>7} {'pairs':>6}")
    for model, runtime in [(m, r) for m in models for r in RUNTIMES]:
        rec = FaceRecognizer.load(model=model, runtime=runtime)  # type: ignore[arg-type]
        rec.verify(files[0], files[1])  # warm-up: sessions, kernels, allocations
        wall, cpu = [], []
        for x, y in zip(files[:-1], files[1:]):
            t0, c0 = time.perf_counter(), time.process_time()
            rec.verify(x, y)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        row = {"model": model, "runtime": runtime, "pairs": len(wall), "median_wall_ms": 1e3 * statistics.median(wall),
               "median_cpu_ms": 1e3 * statistics.median(cpu)}
        rows.append(row)
        print(f"{f'verify, {model}, {runtime}':<40} {row['median_wall_ms']:>9.1f} {row['median_cpu_ms']:>7.1f} "
              f"{len(wall):>6}", flush=True)
    return rows


def embed(models: Sequence[str], n: int = 64, batch: int = 32, min_time: float = 3.0) -> list[dict[str, Any]]:
    """Crops per second of each model's embedder on the same aligned LFW crops."""
    import numpy as np

    from facerec import FaceRecognizer
    from facerec.runtime.precision import cpu_has_native_bf16
    from facerec.recognizer import load_embedder

    det = FaceRecognizer.load(model=models[-1])
    files = sorted((DATA / "lfw").glob("*/*_0001.jpg"))[:n]
    crops = np.stack([det.face(f, select="central", fallback_center=True).crop for f in files])
    configs = [(m, "onnx", "fp32") for m in models] + [(m, "torch", "fp32") for m in models]
    if cpu_has_native_bf16():
        configs += [(m, "torch", "bf16") for m in models]
    rows = []
    print(f"\n{'embedding throughput (batch ' + str(batch) + ')':<40} {'crops/s':>9} {'ms/crop':>8} {'CPU ms/crop':>11}")
    for model, runtime, precision in configs:
        emb = load_embedder(model=model, runtime=runtime, precision=precision)
        emb.embed(crops[:batch], batch_size=batch)  # warm-up
        done, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < min_time:
            emb.embed(crops, batch_size=batch)
            done += len(crops)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        row = {"model": model, "runtime": runtime, "precision": precision, "crops": done,
               "crops_per_s": done / wall, "ms_per_crop": 1e3 * wall / done, "cpu_ms_per_crop": 1e3 * cpu / done}
        rows.append(row)
        print(f"{f'{model}, {runtime} {precision}':<40} {row['crops_per_s']:>9.1f} {row['ms_per_crop']:>8.2f} "
              f"{row['cpu_ms_per_crop']:>11.2f}", flush=True)
    return rows


def gallery(people: int, photos: int, searches: int, runtimes: Sequence[str] = RUNTIMES) -> list[dict[str, Any]]:
    """The ORL gallery through the CLI, one process per call, on each runtime."""
    orl = DATA / "orl"
    persons = sorted((p for p in orl.iterdir() if p.is_dir()), key=lambda p: int(p.name[1:]))[:people]
    enroll_sets = [(p.name, [p / f"{i}.pgm" for i in range(1, photos + 1)]) for p in persons]
    probes = [p / f"{i}.pgm" for i in range(photos + 1, 11) for p in persons][:searches]
    cli = _cli()
    rows = []
    print(f"\n{'ORL gallery via the CLI':<40} {'wall s':>9} {'CPU s':>7} {'calls':>6} {'CPU s/call':>10} {'top-1':>6}")
    for runtime in runtimes:
        tmp = Path(tempfile.mkdtemp(prefix="facerec-bench-gallery-"))
        extra = ["--runtime", runtime]
        t0, c0 = time.perf_counter(), _children_cpu()
        for name, files in enroll_sets:
            _run(cli + ["enroll", "--gallery", str(tmp), name, *map(str, files), *extra], 1)
        t_enroll, c_enroll = time.perf_counter() - t0, _children_cpu() - c0
        hits = 0
        for probe in probes:
            _, _, out = _run(cli + ["search", "--gallery", str(tmp), str(probe), "--json", "-k", "1", *extra], 1)
            faces = json.loads(out)["faces"]
            best = faces[0]["matches"][0]["identity"] if faces and faces[0]["matches"] else None
            hits += best == probe.parent.name
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        shutil.rmtree(tmp, ignore_errors=True)
        row = {"runtime": runtime, "enroll_calls": len(enroll_sets), "search_calls": len(probes),
               "enroll_wall_s": t_enroll, "enroll_cpu_s": c_enroll, "total_wall_s": wall, "total_cpu_s": cpu,
               "top1": hits / max(1, len(probes))}
        rows.append(row)
        calls = len(enroll_sets) + len(probes)
        print(f"{f'{people}x{photos} enroll + {len(probes)} search, ' + runtime:<40} {wall:>9.1f} {cpu:>7.1f} "
              f"{calls:>6} {cpu / calls:>10.2f} {row['top1']:>6.2f}", flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="fresh processes per cold-start row (median of these)")
    ap.add_argument("--parts", nargs="+", choices=("cold", "warm", "embed", "gallery"),
                    default=["cold", "warm", "embed", "gallery"])
    ap.add_argument("--models", nargs="+", default=["sface", "facerec-mbf-v2"],
                    help="named models, the default model first (default: sface facerec-mbf-v2)")
    ap.add_argument("--pairs", type=int, default=10, help="warm pairs timed per runtime")
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--photos", type=int, default=5, help="enrolled photos per person")
    ap.add_argument("--searches", type=int, default=40)
    ap.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES),
                    help="runtimes for the gallery part (the torch path costs ~5 CPU-s per call)")
    ap.add_argument("--out", default="out/verify_cold_start.json")
    args = ap.parse_args(argv)

    a = DATA / "lfw" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    b = DATA / "lfw" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    from facerec.runtime.precision import cpu_bf16_capability

    print(f"models {', '.join(args.models)}; {args.reps} runs per cold row; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; CPU bf16: {cpu_bf16_capability()}\n")
    doc: dict[str, Any] = {"load_average_start": os.getloadavg()}
    if "cold" in args.parts:
        doc["cold"] = cold(args.reps, a, b, args.models)
    if "warm" in args.parts:
        doc["warm"] = warm(args.pairs, args.models)
    if "embed" in args.parts:
        doc["embed"] = embed(args.models)
    if "gallery" in args.parts:
        doc["gallery"] = gallery(args.people, args.photos, args.searches, args.runtimes)
    doc["load_average_end"] = os.getloadavg()
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=2))
    print(f"\nJSON: {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
