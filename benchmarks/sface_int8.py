"""Static int8 SFace (onnxruntime QDQ) beside the fp32 file: build it, then cold start, speed, size,
agreement with fp32 and LFW 10-fold accuracy, side by side in one run.

    python -m benchmarks.sface_int8 --calib CALIBRATION_CROPS --out OUT_DIR/sface-int8.onnx
        [--n-calib 300] [--n-test 200] [--activation u8|s8] [--method percentile|minmax|entropy]
        [--percentile 99.999] [--fp32-nodes conv_1_conv2d ...] [--threads 1] [--reps 5]
        [--parts build cold speed cosine profile lfw] [--reuse]

Build: the fp32 file (opset 11) is converted to opset 13 (per-channel ``DequantizeLinear`` needs
its ``axis``), run through ``quant_pre_process`` (shape inference + ORT's basic optimisations,
which fold the BatchNormalizations into the convolutions), then ``quantize_static``: QDQ format,
per-channel QInt8 weights, QUInt8 (``--activation u8``, default) or QInt8 activations, Conv and
Gemm quantized (``--fp32-nodes`` stay float: by default the first convolution, whose 8-bit
input/output cost the most agreement), calibrated on ``--n-calib`` aligned 112×112 crops of
``--calib`` (CelebA identities, not LFW), read with PIL as RGB float32 0–255 NCHW, the layout and
range SFace takes. The ranges are cached beside ``--out`` (``OUT.calib-*.json``) so a rebuild with
other ``--fp32-nodes`` skips calibration. The fp32 file's ``metadata_props`` are copied into the
int8 file with a distinct fingerprint, ``sface-int8-`` + the first 8 hex of the sha256 of the
file before its metadata is written, so evaluation caches never mix its embeddings with fp32's.

Measured (each part against the fp32 file):

``cold``: fresh subprocesses, ``--reps`` each, models interleaved: open the session
(``facerec.runtime.onnx_runtime.open_session``) and embed 2 crops, timed inside the child (wall and
process CPU per phase) and from outside (whole process wall and CPU); then ``facerec verify A B
--weights FILE --json`` on two LFW photos and the ``import onnxruntime, cv2`` floor.
``speed``: per-crop time at batch 1, 2 and 32 in one process (median over runs after a warm-up).
``cosine``: cosine between int8 and fp32 embeddings of ``--n-test`` other calibration crops.
``profile``: the op types of ORT's optimised graph and each op type's share of kernel time at batch 32.
``lfw``: :func:`pipelines.evaluate.evaluate_pairs` (cached MTCNN detections, central face) with
``OnnxEmbedder`` on each file: 10-fold accuracy, std, AUC, TAR at FAR 1e-3.

Threads: ``--threads`` intra-op threads everywhere (``FACEREC_ORT_THREADS`` for the CLI rows);
default 1, to be run pinned (``taskset -c 1``). Prints a table; writes ``OUT.json`` beside ``--out``.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipelines.paths import data_dir

REPO = Path(__file__).resolve().parents[1]
DATA = data_dir()
#: Accuracy the int8 model may lose against fp32 (LFW 10-fold mean, absolute) to be offered.
MAX_LOSS = 0.001
FAR = 1e-3

#: The child of the ``cold`` part: argv = model path, crops .npy, threads; prints JSON.
_COLD_CHILD = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import numpy as np
from facerec.io.checksum import file_sha256
from facerec.runtime.onnx_runtime import open_session
t1, c1 = time.perf_counter(), time.process_time()
s = open_session(sys.argv[1], threads=int(sys.argv[3]))
t2, c2 = time.perf_counter(), time.process_time()
x = np.load(sys.argv[2])
s.run(None, {"input": x})
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "first_run_s": t3 - t2,
                  "import_cpu_s": c1 - c0, "open_cpu_s": c2 - c1, "first_run_cpu_s": c3 - c2}))
"""


# -- crops --------------------------------------------------------------------------------------

def list_crops(root: Path, seed: int) -> list[Path]:
    files = sorted(root.glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"{root}: no <identity>/*.jpg crops")
    random.Random(seed).shuffle(files)
    return files


def load_crops(files: Sequence[Path]) -> np.ndarray:
    """(N, 3, 112, 112) float32 RGB 0–255, the fp32 SFace input."""
    from PIL import Image

    out = []
    for f in files:
        with Image.open(f) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.float32)
        if a.shape != (112, 112, 3):
            raise SystemExit(f"{f}: {a.shape}, expected an aligned 112x112 crop")
        out.append(a.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out))


# -- build --------------------------------------------------------------------------------------



def build(fp32: Path, out: Path, calib: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, x: np.ndarray, batch: int = 20) -> None:
            self.batches = [{"input": x[i:i + batch]} for i in range(0, len(x), batch)]
            self.i = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.i >= len(self.batches):
                return None
            self.i += 1
            return self.batches[self.i - 1]

        def rewind(self) -> None:
            self.i = 0

        def __len__(self) -> int:
            return len(self.batches)

    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[args.method]
    act = QuantType.QUInt8 if args.activation == "u8" else QuantType.QInt8
    cache_tag = f"{args.method}{args.percentile if args.method == 'percentile' else ''}-n{len(calib)}-s{args.seed}"
    calib_cache = out.with_name(f"{out.stem}.calib-{cache_tag}.json")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sface-int8.") as tmp:
        op13, pre, q = Path(tmp, "op13.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "q.onnx")
        onnx.save(version_converter.convert_version(onnx.load(str(fp32)), 13), str(op13))
        quant_pre_process(str(op13), str(pre))
        names = {n.name for n in onnx.load(str(pre), load_external_data=False).graph.node}
        missing = [n for n in args.fp32_nodes if n not in names]
        if missing:
            raise SystemExit(f"--fp32-nodes not in the graph: {missing}")
        extra: dict[str, Any] = {}
        if args.method == "percentile":
            extra["CalibPercentile"] = args.percentile
        quantize_static(str(pre), str(q), Reader(calib), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv", "Gemm"], per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=act, calibrate_method=method,
                        nodes_to_exclude=list(args.fp32_nodes), extra_options=extra,
                        calibration_cache_path=str(calib_cache))
        digest = file_sha256(q)
        model = onnx.load(str(q))
    src = {p.key: p.value for p in onnx.load(str(fp32), load_external_data=False).metadata_props}
    meta = json.loads(src["facerec.metadata"])
    fingerprint = f"sface-int8-{digest[:8]}"
    quant = {"format": "QDQ", "weights": "QInt8 per-channel", "activations": act.name, "calibration": args.method,
             "percentile": args.percentile if args.method == "percentile" else None, "calib_crops": len(calib),
             "calib_source": str(args.calib), "fp32_nodes": list(args.fp32_nodes), "base_fingerprint": meta.get("fingerprint")}
    meta.update({"fingerprint": fingerprint, "model_name": "sface-int8", "precision": "int8", "quantization": quant})
    props = dict(src, **{"facerec.metadata": json.dumps(meta, sort_keys=True), "facerec.fingerprint": fingerprint})
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return {"seconds": time.perf_counter() - t0, "fingerprint": fingerprint, "sha256_before_metadata": digest,
            "sha256": file_sha256(out), "calibration_cache": str(calib_cache), **quant}


# -- measurements -------------------------------------------------------------------------------

def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    t0, c0 = time.perf_counter(), _children_cpu()
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()[-800:]}")
    return wall, cpu, res.stdout


def _med(rows: list[dict[str, float]]) -> dict[str, float]:
    """Median of each numeric field, and ``min_<field>`` (the least disturbed run on a shared machine)."""
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float))]
    return {**{k: statistics.median(r[k] for r in rows) for k in keys}, **{f"min_{k}": min(r[k] for r in rows) for k in keys}}


def cold(models: dict[str, Path], crops2: np.ndarray, reps: int, threads: int) -> dict[str, Any]:
    env = dict(os.environ, FACEREC_ORT_THREADS=str(threads))
    a = DATA / "lfw" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    b = DATA / "lfw" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    out: dict[str, Any] = {"floor": [], **{m: {"session": [], "verify": []} for m in models}}
    with tempfile.TemporaryDirectory(prefix="sface-int8-cold.") as tmp:
        npy = Path(tmp, "crops2.npy")
        np.save(npy, crops2)
        for _ in range(reps):  # interleaved: drift in load hits both models alike
            w, c, _o = _timed([sys.executable, "-c", "import onnxruntime, cv2"], env)
            out["floor"].append({"wall_s": w, "cpu_s": c})
            for name, path in models.items():
                w, c, o = _timed([sys.executable, "-c", _COLD_CHILD, str(path), str(npy), str(threads)], env)
                out[name]["session"].append({"wall_s": w, "cpu_s": c, **json.loads(o)})
                if a.is_file() and b.is_file():
                    w, c, o = _timed([sys.executable, "-m", "pipelines.cli", "verify", str(a), str(b), "--json",
                                      "--weights", str(path)], env)
                    out[name]["verify"].append({"wall_s": w, "cpu_s": c, "score": json.loads(o)["score"]})
    summary = {"floor": _med(out["floor"])}
    for name in models:
        summary[name] = {"session": _med(out[name]["session"]),
                         "verify": _med(out[name]["verify"]) if out[name]["verify"] else None}
    return {"runs": out, "median": summary, "reps": reps}


def speed(models: dict[str, Path], x: np.ndarray, threads: int, batches: Sequence[int] = (1, 2, 32)) -> dict[str, Any]:
    from facerec.runtime.onnx_runtime import open_session

    res: dict[str, Any] = {}
    for name, path in models.items():
        s = open_session(path, threads=threads)
        res[name] = {}
        for bs in batches:
            xb = x[:bs]
            s.run(None, {"input": xb})  # warm-up: kernels for this batch size
            n = max(5, 96 // bs)
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                s.run(None, {"input": xb})
                times.append(time.perf_counter() - t0)
            res[name][str(bs)] = {"ms_per_crop": statistics.median(times) / bs * 1000, "runs": n}
        del s
    return res


def _embed(path: Path, x: np.ndarray, threads: int) -> np.ndarray:
    from facerec.runtime.onnx_runtime import open_session
    from facerec.similarity import l2_normalize

    s = open_session(path, threads=threads)
    return l2_normalize(np.concatenate([s.run(None, {"input": x[i:i + 32]})[0] for i in range(0, len(x), 32)]))


def cosine(fp32: Path, int8: Path, x: np.ndarray, threads: int) -> dict[str, Any]:
    c = (_embed(fp32, x, threads) * _embed(int8, x, threads)).sum(1)
    return {"n": int(len(c)), "mean": float(c.mean()), "median": float(np.median(c)), "p1": float(np.percentile(c, 1)),
            "min": float(c.min())}


def profile(models: dict[str, Path], x: np.ndarray, threads: int) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sface-int8-prof.") as tmp:
        for name, path in models.items():
            o = ort.SessionOptions()  # the options of facerec.runtime.onnx_runtime.open_session, plus profiling
            o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
            o.add_session_config_entry("session.intra_op.allow_spinning", "0")
            o.add_session_config_entry("session.disable_prepacking", "1")
            o.log_severity_level = 3
            o.optimized_model_filepath = str(Path(tmp, f"{name}.opt.onnx"))
            o.enable_profiling = True
            o.profile_file_prefix = str(Path(tmp, name))
            s = ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])
            ops = collections.Counter(n.op_type for n in onnx.load(o.optimized_model_filepath).graph.node)
            s.run(None, {"input": x})
            for _ in range(3):
                s.run(None, {"input": x})
            events = json.loads(Path(s.end_profiling()).read_text())
            t = collections.Counter()
            for e in events:
                if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
                    t[e["args"]["op_name"]] += e["dur"]
            total = sum(t.values())
            res[name] = {"optimized_ops": dict(ops.most_common()),
                         "kernel_share": {k: v / total for k, v in t.most_common()},
                         "kernel_ms_per_crop": total / 4 / len(x) / 1000}
    return res


def lfw(models: dict[str, Path], threads: int) -> dict[str, Any]:
    from facerec import FaceRecognizer
    from facerec.runtime.onnx_embedder import OnnxEmbedder
    from facerec.metrics.pairs import read_lfw_pairs
    from facerec.recognizer import create_detector
    from pipelines.evaluate.embedding import default_cache_dir
    from pipelines.evaluate import evaluate_pairs

    pairs = read_lfw_pairs(DATA / "lfw_pairs.txt", DATA / "lfw")
    res: dict[str, Any] = {}
    for name, path in models.items():
        emb = OnnxEmbedder(path, threads=threads)
        if name == "int8":
            emb.precision = "int8"  # recorded in the embedding cache's key (the fingerprint already differs)
        rec = FaceRecognizer(emb, create_detector(runtime="onnx"))
        ev = evaluate_pairs(rec, pairs, cache_dir=default_cache_dir(), progress=False)
        r = ev.report
        op = next(p for p in r.operating_points if abs(p.target_far - FAR) < 1e-12)
        res[name] = {"fingerprint": emb.fingerprint(), "accuracy": r.kfold.mean, "std": r.kfold.std, "auc": r.auc,
                     "eer": r.eer, f"tar_at_far_{FAR:g}": op.tar, "far": op.far, "threshold_at_far": op.threshold,
                     "best_threshold": r.best_threshold, "pairs": r.n_pairs, "images": ev.n_images,
                     "fallback_images": len(ev.fallback_images), "seconds": ev.seconds}
        print(f"  lfw {name}: {r.kfold.mean * 100:.2f} % ± {r.kfold.std * 100:.2f}, TAR@{FAR:g} {op.tar * 100:.2f} % "
              f"({ev.seconds:.0f} s)", flush=True)
    return res


# -- report -------------------------------------------------------------------------------------

def report(doc: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str]] = []
    sz = doc.get("size_bytes", {})
    if sz:
        rows.append(("file size (MB)", f"{sz['fp32'] / 1e6:.1f}", f"{sz['int8'] / 1e6:.1f}"))
    c = doc.get("cold")
    if c:
        m = c["median"]
        for key, label in (("open_s", "cold: session open (ms)"), ("open_cpu_s", "cold: session open CPU (ms)"),
                           ("first_run_s", "cold: first run, 2 crops (ms)"),
                           ("first_run_cpu_s", "cold: first run CPU (ms)")):
            rows.append((label, f"{m['fp32']['session'][key] * 1e3:.0f}", f"{m['int8']['session'][key] * 1e3:.0f}"))
        rows.append(("cold: open + first run (ms)",
                     *(f"{(m[k]['session']['open_s'] + m[k]['session']['first_run_s']) * 1e3:.0f}" for k in ("fp32", "int8"))))
        if "min_open_s" in m["fp32"]["session"]:
            rows.append(("cold: open + first run, min of runs (ms)",
                         *(f"{(m[k]['session']['min_open_s'] + m[k]['session']['min_first_run_s']) * 1e3:.0f}"
                           for k in ("fp32", "int8"))))
        rows.append(("cold: whole child, wall/CPU (s)",
                     *(f"{m[k]['session']['wall_s']:.3f}/{m[k]['session']['cpu_s']:.3f}" for k in ("fp32", "int8"))))
        if m["fp32"]["verify"]:
            fl = m["floor"]["wall_s"]
            rows.append(("cold: facerec verify, wall/CPU (s)",
                         *(f"{m[k]['verify']['wall_s']:.3f}/{m[k]['verify']['cpu_s']:.3f}" for k in ("fp32", "int8"))))
            if "min_wall_s" in m["fp32"]["verify"]:
                rows.append(("cold: facerec verify, min wall/CPU (s)",
                             *(f"{m[k]['verify']['min_wall_s']:.3f}/{m[k]['verify']['min_cpu_s']:.3f}" for k in ("fp32", "int8"))))
            rows.append((f"  median vs import onnxruntime,cv2 ({fl:.3f} s)",
                         *(f"{m[k]['verify']['wall_s'] / fl:.2f}x" for k in ("fp32", "int8"))))
    sp = doc.get("speed")
    if sp:
        for bs in sp["fp32"]:
            rows.append((f"per crop, batch {bs} (ms)", f"{sp['fp32'][bs]['ms_per_crop']:.1f}",
                         f"{sp['int8'][bs]['ms_per_crop']:.1f}"))
    cs = doc.get("cosine")
    if cs:
        rows.append((f"cosine int8·fp32, {cs['n']} crops", "1", f"mean {cs['mean']:.4f} p1 {cs['p1']:.4f} min {cs['min']:.4f}"))
    pr = doc.get("profile")
    if pr:
        for k in ("fp32", "int8"):
            top = ", ".join(f"{op} {v * 100:.0f}%" for op, v in list(pr[k]["kernel_share"].items())[:3])
            rows.append((f"kernel time {k} (batch 32)", f"{pr[k]['kernel_ms_per_crop']:.1f} ms/crop", top))
    lf = doc.get("lfw")
    if lf:
        rows.append(("LFW 10-fold accuracy (%)", *(f"{lf[k]['accuracy'] * 100:.2f} ± {lf[k]['std'] * 100:.2f}" for k in ("fp32", "int8"))))
        rows.append((f"LFW TAR @ FAR {FAR:g} (%)", *(f"{lf[k][f'tar_at_far_{FAR:g}'] * 100:.2f}" for k in ("fp32", "int8"))))
        rows.append(("LFW ROC AUC", *(f"{lf[k]['auc']:.5f}" for k in ("fp32", "int8"))))
    w = max(len(r[0]) for r in rows) if rows else 20
    print(f"\n{'':<{w}}  {'fp32':>22}  int8")
    for label, a, b in rows:
        print(f"{label:<{w}}  {a:>22}  {b}")
    v = doc.get("verdict")
    if v:
        print(f"\nverdict: {v['summary']}")


def verdict(doc: dict[str, Any]) -> dict[str, Any] | None:
    lf, c = doc.get("lfw"), doc.get("cold")
    if not lf or not c:
        return None
    loss = lf["fp32"]["accuracy"] - lf["int8"]["accuracy"]
    m = c["median"]
    ses = {k: m[k]["session"]["open_s"] + m[k]["session"]["first_run_s"] for k in ("fp32", "int8")}
    ver = {k: m[k]["verify"]["wall_s"] for k in ("fp32", "int8")} if m["fp32"]["verify"] else None
    acc_ok = loss <= MAX_LOSS + 1e-12
    cold_ok = ses["int8"] < ses["fp32"] and (ver is None or ver["int8"] < ver["fp32"])
    s = (f"LFW loss {loss * 100:+.2f} points (limit {MAX_LOSS * 100:.1f}): {'OK' if acc_ok else 'FAILS'}; "
         f"cold open+2 crops {ses['int8'] * 1e3:.0f} vs {ses['fp32'] * 1e3:.0f} ms"
         + (f", facerec verify {ver['int8']:.3f} vs {ver['fp32']:.3f} s" if ver else "")
         + f": {'faster' if cold_ok else 'NOT faster'} -> "
         + ("meets the bar for a named model" if acc_ok and cold_ok else "does NOT meet the bar"))
    return {"accuracy_loss": loss, "accuracy_ok": acc_ok, "cold_faster": cold_ok, "meets_bar": acc_ok and cold_ok,
            "summary": s}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calib", type=Path, required=True, help="aligned 112x112 crops, <identity>/*.jpg (not LFW)")
    ap.add_argument("--out", type=Path, required=True, help="the int8 .onnx to write (keep it outside the repository)")
    ap.add_argument("--n-calib", type=int, default=300, help="calibration crops")
    ap.add_argument("--n-test", type=int, default=200, help="other crops for the int8/fp32 cosine")
    ap.add_argument("--seed", type=int, default=0, help="shuffle of the crop list (calibration/test split)")
    ap.add_argument("--activation", choices=("u8", "s8"), default="u8", help="activation type (default u8)")
    ap.add_argument("--method", choices=("percentile", "minmax", "entropy"), default="percentile")
    ap.add_argument("--percentile", type=float, default=99.999)
    ap.add_argument("--fp32-nodes", nargs="*", default=["conv_1_conv2d"], help="nodes left in float (default: the first conv)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    ap.add_argument("--reps", type=int, default=5, help="fresh processes per cold row")
    ap.add_argument("--parts", nargs="+", choices=("build", "cold", "speed", "cosine", "profile", "lfw"),
                    default=["build", "cold", "speed", "cosine", "profile", "lfw"])
    ap.add_argument("--reuse", action="store_true", help="skip the build when --out exists")
    args = ap.parse_args(argv)

    from facerec.models import get_model

    fp32 = Path(get_model("sface").onnx_path())
    out = args.out.resolve()
    if REPO in out.parents:
        raise SystemExit(f"{out}: keep the int8 file outside the repository")
    json_path = out.with_suffix(".json")
    doc: dict[str, Any] = json.loads(json_path.read_text()) if json_path.is_file() and args.reuse else {}
    doc.update({"fp32": str(fp32), "int8": str(out), "threads": args.threads, "cpu_affinity": sorted(os.sched_getaffinity(0)),
                "load_average_start": os.getloadavg()})
    files = list_crops(args.calib, args.seed)
    if len(files) < args.n_calib + args.n_test:
        raise SystemExit(f"{args.calib}: {len(files)} crops, need {args.n_calib + args.n_test}")
    print(f"fp32 {fp32}\nint8 {out}\n{len(files)} crops in {args.calib}; threads {args.threads}; "
          f"affinity {doc['cpu_affinity']}; load {os.getloadavg()[0]:.2f}", flush=True)
    test = load_crops(files[args.n_calib:args.n_calib + args.n_test])

    if "build" in args.parts and not (args.reuse and out.is_file()):
        doc["build"] = build(fp32, out, load_crops(files[:args.n_calib]), args)
        print(f"built in {doc['build']['seconds']:.0f} s: {doc['build']['fingerprint']}", flush=True)
    if not out.is_file():
        raise SystemExit(f"{out}: no int8 model (run the build part)")
    models = {"fp32": fp32, "int8": out}
    doc["size_bytes"] = {k: p.stat().st_size for k, p in models.items()}
    if "cold" in args.parts:
        doc["cold"] = cold(models, test[:2], args.reps, args.threads)
        print("cold done", flush=True)
    if "speed" in args.parts:
        doc["speed"] = speed(models, test, args.threads)
    if "cosine" in args.parts:
        doc["cosine"] = cosine(fp32, out, test, args.threads)
    if "profile" in args.parts:
        doc["profile"] = profile(models, test[:32], args.threads)
    if "lfw" in args.parts:
        doc["lfw"] = lfw(models, args.threads)
    doc["load_average_end"] = os.getloadavg()
    doc["verdict"] = verdict(doc)
    json_path.write_text(json.dumps(doc, indent=1))
    report(doc)
    print(f"\nJSON: {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
