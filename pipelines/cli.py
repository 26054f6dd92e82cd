"""The ``facerec`` command line: ``main(argv) -> int`` dispatching to one module per subcommand.

Each subcommand module exposes ``add_parser(subparsers)`` which sets ``func``; user errors
(:class:`facerec.FacerecError`, bad files) become one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from facerec import FacerecError, __version__

# Subcommand modules, in --help order.
COMMAND_MODULES = ["detect", "verify", "prepare", "enroll", "search", "gallery_cmd", "frontalize", "train", "export",
                   "evaluate", "serve_cmd"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facerec",
        description="Face recognition: detect faces, verify pairs, enroll and search identities, train models.",
        epilog="Run 'facerec COMMAND --help' for the options of one command.")
    parser.add_argument("--version", action="version", version=f"facerec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"pipelines.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FacerecError as exc:
        print(f"facerec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, ValueError) as exc:
        print(f"facerec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"facerec {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
