"""The workflow behind ``facerec prepare SRC DST`` (its command line: :mod:`pipelines.cli.prepare`):
Detect and align a folder-per-identity tree of photos.

Every file under ``SRC`` (``SRC/<identity>/<photo>``) becomes a 112×112 (or the template's
size) aligned crop at the same relative path under ``DST`` (suffix ``.png`` or ``.jpg``).
Nothing is dropped silently: images with no face, several faces (the largest is kept) or
that cannot be read are listed in ``DST/prepare_report.json``.

Resumable: outputs that exist are skipped (crops are written to a temporary name and
renamed, so an existing file is always complete), and each result is appended to
``DST/.prepare_log.jsonl`` as it arrives so an interrupted run loses no report entries.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from facerec.alignment import TEMPLATES, align_face, center_crop_landmarks
from facerec.io.atomic import atomic_path, atomic_write_text
from facerec.detection.bounded import create_detector, crop_face
from facerec.detection.detector import Detector, MTCNNConfig, MTCNNDetector, choose_face
from facerec.errors import FacerecError
from facerec.runtime.onnx_runtime import THREADS_ENV
from facerec.io.photo import open_photo

from .photos import list_files

log = logging.getLogger(__name__)

REPORT_NAME = "prepare_report.json"
LOG_NAME = ".prepare_log.jsonl"
FORMATS = {"png": ".png", "jpg": ".jpg"}
JPEG_QUALITY = 95

# Per-image outcomes.
OK, MULTIPLE, NO_FACE_FALLBACK, NO_FACE, UNREADABLE, FAILED = (
    "ok", "multiple_faces", "no_face_center_fallback", "no_face", "unreadable", "failed")


@dataclass(frozen=True)
class PrepareOptions:
    """What ``prepare`` does to each image."""

    template: str = "arcface_112"
    image_format: str = "png"
    fallback_center: bool = False
    detector: MTCNNConfig = field(default_factory=MTCNNConfig)  # mtcnn's settings
    detector_name: str | None = None   # a named detector (None: the default)
    detect_side: int | None = None     # the bound on the detector's copy (None: the detector's)

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown template {self.template!r}; known: {sorted(TEMPLATES)}")
        if self.image_format not in FORMATS:
            raise ValueError(f"image format must be one of {sorted(FORMATS)}")


def output_path(dst: Path, rel: str, image_format: str) -> Path:
    """Where the crop of ``SRC/rel`` goes: same relative path, suffix of the format."""
    return (dst / rel).with_suffix(FORMATS[image_format])


def save_crop_atomic(crop: np.ndarray, path: Path, image_format: str) -> None:
    """Write an (H, W, 3) uint8 crop to a temporary file beside ``path``, then rename."""
    img = Image.fromarray(crop)
    with atomic_path(path) as tmp:
        if image_format == "jpg":
            img.save(tmp, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        else:
            img.save(tmp, format="PNG")


def process_image(src: Path, dst: Path, rel: str, opts: PrepareOptions, detector: Detector) -> dict[str, Any]:
    """Detect, align and save one image; returns its report record."""
    rec: dict[str, Any] = {"path": rel}
    try:
        photo = open_photo(src / rel)
        dets = detector.detect(photo)  # decodes the photo (at reduced size where it can)
    except FacerecError as exc:
        return {**rec, "status": UNREADABLE, "error": str(exc)}
    try:
        w, h = photo.size
        if not dets:
            if not opts.fallback_center:
                return {**rec, "status": NO_FACE}
            landmarks, status = center_crop_landmarks(w, h, opts.template), NO_FACE_FALLBACK
        else:
            best = choose_face(dets, "largest")  # several faces: keep the largest, and say so
            assert best is not None
            landmarks, status = best.landmarks, (OK if len(dets) == 1 else MULTIPLE)
            rec["score"] = round(float(best.score), 4)
            if len(dets) > 1:
                rec["faces"] = len(dets)
        crop = crop_face(photo, landmarks, opts.template, align_face)
        save_crop_atomic(crop, output_path(dst, rel, opts.image_format), opts.image_format)
        return {**rec, "status": status}
    except (FacerecError, OSError, ValueError) as exc:  # alignment or write failure: report, go on
        return {**rec, "status": FAILED, "error": f"{type(exc).__name__}: {exc}"}


# -- worker processes ---------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(src: str, dst: str, opts: PrepareOptions, single_thread: bool = True) -> None:
    # MTCNN on onnxruntime when the shipped networks are there (a worker then never imports
    # torch: seconds less per process), else facenet-pytorch; the same detections either way.
    detector = create_detector(opts.detector_name, opts.detector, "auto", detect_side=opts.detect_side)
    if single_thread:  # one thread per process: N workers use N cores, no oversubscription
        if isinstance(detector.inner, MTCNNDetector):
            import torch

            torch.set_num_threads(1)
        else:
            os.environ[THREADS_ENV] = "1"  # read when the worker's sessions open
        import cv2

        cv2.setNumThreads(1)  # YuNet runs on OpenCV's DNN threads
    _WORKER.update(src=Path(src), dst=Path(dst), opts=opts, detector=detector)


def _work(rel: str) -> dict[str, Any]:
    w = _WORKER
    return process_image(w["src"], w["dst"], rel, w["opts"], w["detector"])


def _read_log(path: Path) -> dict[str, dict[str, Any]]:
    """Records of earlier runs, last one per path wins (a torn last line is ignored)."""
    out: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
                out[r["path"]] = r
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return out


def prepare(src: str | Path, dst: str | Path, opts: PrepareOptions | None = None, workers: int = 1,
            progress: bool = True) -> dict[str, Any]:
    """Align every image of ``src`` into ``dst``; returns (and writes) the report."""
    opts = opts or PrepareOptions()
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ValueError("DST must not be SRC or inside it")
    dst.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rels = list_files(src)
    previous = _read_log(dst / LOG_NAME)
    done = [r for r in rels if output_path(dst, r, opts.image_format).is_file()]
    todo = [r for r in rels if not output_path(dst, r, opts.image_format).is_file()]
    records: dict[str, dict[str, Any]] = {}
    for r in done:  # skipped: keep what the earlier run knew about them
        records[r] = {**previous.get(r, {"path": r, "status": OK}), "resumed": True}
    log.info("%d files, %d already prepared, %d to do", len(rels), len(done), len(todo))

    with open(dst / LOG_NAME, "a", encoding="utf-8") as logf:
        def results() -> Iterator[dict[str, Any]]:
            if workers <= 1 or len(todo) <= 1:
                _init_worker(str(src), str(dst), opts, single_thread=False)  # in this process: leave threads
                yield from map(_work, todo)
                return
            ctx = mp.get_context("spawn")  # fresh interpreters: no forked torch thread pools
            with ctx.Pool(workers, initializer=_init_worker, initargs=(str(src), str(dst), opts)) as pool:
                yield from pool.imap_unordered(_work, todo, chunksize=4)

        bar = tqdm(results(), total=len(todo), desc="prepare", unit="img", disable=not progress, smoothing=0.1)
        for rec in bar:
            records[rec["path"]] = rec
            logf.write(json.dumps(rec) + "\n")
            logf.flush()

    report = build_report(src, dst, opts, [records[r] for r in rels], skipped=len(done), seconds=time.time() - t0)
    atomic_write_text(dst / REPORT_NAME, json.dumps(report, indent=2))
    return report


def build_report(src: Path, dst: Path, opts: PrepareOptions, records: list[dict[str, Any]], skipped: int,
                 seconds: float) -> dict[str, Any]:
    """Counts per status and the list of every image that was not a clean single face."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    written = sum(counts.get(s, 0) for s in (OK, MULTIPLE, NO_FACE_FALLBACK))
    return {
        "src": str(src), "dst": str(dst),
        "options": {**asdict(opts), "detector": asdict(opts.detector)},
        "total": len(records), "written": written, "skipped_existing": skipped, "seconds": round(seconds, 1),
        "counts": counts,
        "identities": len({r["path"].split("/")[0] for r in records if "/" in r["path"]}),
        "issues": {s: [r for r in records if r["status"] == s]
                   for s in (MULTIPLE, NO_FACE_FALLBACK, NO_FACE, UNREADABLE, FAILED)},
    }


def summary_line(report: dict[str, Any]) -> str:
    c = report["counts"]
    return (f"prepared {report['written']}/{report['total']} images into {report['dst']} "
            f"({report['skipped_existing']} already there): {c.get(OK, 0)} one face, "
            f"{c.get(MULTIPLE, 0)} several faces (largest kept), {c.get(NO_FACE_FALLBACK, 0)} no face (centre crop), "
            f"{c.get(NO_FACE, 0)} no face (skipped), {c.get(UNREADABLE, 0)} unreadable, {c.get(FAILED, 0)} failed; "
            f"report: {Path(report['dst']) / REPORT_NAME}")
