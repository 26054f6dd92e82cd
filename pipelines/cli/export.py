"""``facerec export``: the command line of :mod:`pipelines.export` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse

from facerec.runtime.embedder import Embedder

from ..export import DEFAULT_OPSET, FORMATS, export_default, export_onnx


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model checkpoint (ONNX)",
                       description="Export an embedder checkpoint to ONNX: input 'input' (N, 3, H, W) float32 "
                                   "preprocessed crops, output 'embedding' (N, D) L2-normalised; dynamic batch. "
                                   "The preprocessing spec and threshold are stored as metadata.")
    p.add_argument("--weights", metavar="PATH", help="embedder checkpoint (.pt)")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="output format (default: onnx)")
    p.add_argument("--out", metavar="PATH", help="output file, e.g. model.onnx")
    p.add_argument("--default", action="store_true",
                   help="regenerate the ONNX files shipped in the package (the export of each packaged named model's "
                        ".pt, and MTCNN's three networks): run after replacing a packaged .pt")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default: {DEFAULT_OPSET})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.default:
        if args.weights or args.out:
            raise ValueError("--default writes the shipped files: give no --weights or --out")
        for path in export_default(opset=args.opset):
            print(f"wrote {path}")
        return 0
    if not args.weights or not args.out:
        raise ValueError("give --weights PATH and --out PATH (or --default)")
    embedder = Embedder.load(args.weights, channels_last=False)
    meta = export_onnx(embedder, args.out, args.opset)
    print(f"wrote {args.out} ({meta['facerec.backbone']}, {meta['facerec.embedding_size']}-d, "
          f"model {meta['facerec.fingerprint']})")
    return 0
