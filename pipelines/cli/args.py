"""Arguments and helpers shared by several CLI subcommands."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from facerec.detection import Detector, MTCNNConfig
from facerec.models import DEFAULT_MODEL
from facerec.recognizer import RUNTIMES, FaceRecognizer, create_detector

RUNTIME_HELP = ("onnx: onnxruntime, no torch import (fast start); torch: PyTorch + facenet-pytorch; "
                "auto (default): onnx for named models and .onnx files on the CPU, torch for --weights .pt "
                "files, other devices and bf16")


def add_weights_args(g: argparse._ActionsContainer, what: str = "model") -> None:
    """``--model NAME`` and ``--weights PATH`` (exclusive; checked by :func:`choose_runtime`)."""
    g.add_argument("--model", metavar="NAME", help=f"named {what} (see 'facerec models'; default: $FACEREC_MODEL "
                                                   f"or {DEFAULT_MODEL})")
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
    """The MTCNN knobs, and ``--runtime`` unless the command always runs torch."""
    g = p.add_argument_group("detector (MTCNN)")
    if runtime:
        g.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    d = MTCNNConfig()
    g.add_argument("--min-face-size", type=int, default=d.min_face_size, help=f"smallest face in pixels (default: {d.min_face_size})")
    g.add_argument("--factor", type=float, default=d.factor, help=f"image pyramid step; smaller is faster (default: {d.factor})")
    g.add_argument("--thresholds", type=float, nargs=3, default=list(d.thresholds), metavar=("P", "R", "O"),
                   help="P-Net, R-Net and O-Net thresholds (default: %(default)s)")


def detector_config(args: argparse.Namespace) -> MTCNNConfig:
    return MTCNNConfig(min_face_size=args.min_face_size, factor=args.factor, thresholds=tuple(args.thresholds))


def make_detector(args: argparse.Namespace) -> Detector:
    """The detector the detector arguments describe (runtime and knobs)."""
    return create_detector(detector_config(args), args.runtime, getattr(args, "device", "cpu"))


def load_recognizer(args: argparse.Namespace, gallery: str | os.PathLike | None = None) -> FaceRecognizer:
    """The recognizer the model arguments describe. With ``gallery`` (a gallery folder) and no
    ``--model``/``--weights``, the model that built that gallery (recorded in it), so galleries
    keep working when the default model changes."""
    model = args.model
    if gallery is not None and not model and not args.weights:
        from facerec.gallery import (
            gallery_model,  # imports faiss: only for commands with a gallery
        )

        model = gallery_model(gallery)
    return FaceRecognizer.load(args.weights, model=model, detector_config=detector_config(args), device=args.device,
                               runtime=args.runtime, precision=args.precision,
                               frontalize=getattr(args, "frontalize", False))


def emit_json(obj: Any) -> None:
    """Machine-readable output on stdout (one document)."""
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
