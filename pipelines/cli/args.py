"""Arguments and helpers shared by several CLI subcommands."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from facerec.detection.bounded import create_detector
from facerec.detection.detector import Detector, MTCNNConfig
from facerec.models import DEFAULT_MODEL, MODEL_ENV, choose_model
from facerec.models.detectors import DETECTOR_ENV, DETECTORS, default_detector_name
from facerec.recognizer import RUNTIMES, FaceRecognizer

RUNTIME_HELP = ("onnx: onnxruntime, no torch import (fast start); torch: PyTorch + facenet-pytorch; "
                "auto (default): onnx for named models and .onnx files on the CPU, torch for --weights .pt "
                "files, other devices and bf16")


def add_weights_args(g: argparse._ActionsContainer, what: str = "model") -> None:
    """``--model NAME`` and ``--weights PATH`` (exclusive; checked by :func:`choose_runtime`)."""
    g.add_argument("--model", metavar="NAME", help=f"named {what} (see 'facerec models'; default: ${MODEL_ENV}, else "
                                                   f"the model a gallery was built with, else {DEFAULT_MODEL})")
    g.add_argument("--weights", metavar="PATH", help=f"{what} file instead of a named one: a .pt checkpoint or an "
                                                     "ONNX export (.onnx)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model/--weights/--device/--precision/--runtime and the detector knobs."""
    g = p.add_argument_group("model")
    add_weights_args(g)
    g.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default: cpu)")
    g.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                   help="embedding precision on torch; bf16 is ~2x faster on CPUs with AMX/AVX512-BF16 and slower "
                        "elsewhere; auto: bf16 only there (default: fp32)")
    g.add_argument("--frontalize", action="store_true",
                   help="embed each face's frontal view, re-rendered on a generic 3D face (default: off)")
    add_detector_args(p)


def add_detector_args(p: argparse.ArgumentParser, runtime: bool = True) -> None:
    """``--detector``, ``--detect-size``, the MTCNN knobs, and ``--runtime`` unless the command
    always runs torch."""
    g = p.add_argument_group("detector")
    g.add_argument("--detector", metavar="NAME", choices=sorted(DETECTORS),
                   help=f"named detector: {', '.join(DETECTORS)} (see 'facerec models'; default: ${DETECTOR_ENV} or "
                        f"{default_detector_name()})")
    g.add_argument("--detect-size", type=int, metavar="PX",
                   help="longest side of the copy the detector sees, fixed; larger finds smaller faces in big photos "
                        "at more cost, 0 = full resolution (default: the detector's rule: "
                        + "; ".join(f"{d.name} {d.detect_side} px, up to {d.max_detect_side} px for big photos"
                                    for d in DETECTORS.values()) + ")")
    if runtime:
        g.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    d = MTCNNConfig()
    g.add_argument("--min-face-size", type=int, default=d.min_face_size,
                   help=f"mtcnn: smallest face in pixels of the detector's copy (default: {d.min_face_size})")
    g.add_argument("--factor", type=float, default=d.factor,
                   help=f"mtcnn: image pyramid step; smaller is faster (default: {d.factor})")
    g.add_argument("--thresholds", type=float, nargs=3, default=list(d.thresholds), metavar=("P", "R", "O"),
                   help="mtcnn: P-Net, R-Net and O-Net thresholds (default: %(default)s)")


def detector_config(args: argparse.Namespace) -> MTCNNConfig:
    return MTCNNConfig(min_face_size=args.min_face_size, factor=args.factor, thresholds=tuple(args.thresholds))


def make_detector(args: argparse.Namespace) -> Detector:
    """The detector the detector arguments describe (name, bound, runtime and knobs)."""
    return create_detector(args.detector, detector_config(args), getattr(args, "runtime", "auto"),
                           getattr(args, "device", "cpu"), args.detect_size)


def load_recognizer(args: argparse.Namespace, gallery: str | os.PathLike | None = None,
                    recorded: str | None = None) -> FaceRecognizer:
    """The recognizer the model arguments describe: ``--weights``, else the named model
    :func:`facerec.models.choose_model` picks — ``--model``, ``$FACEREC_MODEL``, the model that
    built ``gallery`` (recorded in it; ``recorded`` for a gallery not saved yet), the default —
    so galleries keep working when the default model changes."""
    model, detector = args.model, args.detector
    if not args.weights:
        def recorded_model() -> str | None:
            if gallery is not None:
                from facerec.gallery.faiss_gallery import gallery_model  # imports faiss: only when needed

                return gallery_model(gallery) or recorded
            return recorded

        model = choose_model(model, recorded_model)
    if gallery is not None and not detector:
        from facerec.gallery.faiss_gallery import gallery_detector

        detector = gallery_detector(gallery)
    return FaceRecognizer.load(args.weights, model=model, detector=detector, detector_config=detector_config(args),
                               detect_side=args.detect_size, device=args.device,
                               runtime=args.runtime, precision=args.precision,
                               frontalize=getattr(args, "frontalize", False))


def emit_json(obj: Any) -> None:
    """Machine-readable output on stdout (one document)."""
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
