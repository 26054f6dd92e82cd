"""The ``facerec`` command line: ``main(argv) -> int`` dispatching to one module per subcommand.

Every command lives in this package, one module each (``pipelines/cli/NAME.py``), registered
in :data:`COMMANDS` below (the one place); shared arguments are in :mod:`.args`. A command
module only turns arguments into one call of a workflow module (``pipelines/NAME.py``: the
functions the HTTP service calls too) and prints the result. Each exposes
``add_parser(subparsers)``, which sets ``func``; user errors (:class:`facerec.FacerecError`,
bad files) become one line on stderr and exit status 2.

Only the module of the command being run is imported (all of them for ``--help`` or no
command): ``train`` or ``export`` import torch, and ``facerec verify`` must not pay for that.
Without torch (``pip install facerec``, no ``[train]``) the :data:`TORCH_COMMANDS` say so in one
line (:func:`facerec.extras.require_torch`) and every other command runs.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from facerec import FacerecError, __version__
from facerec.extras import TORCH_INSTALL, MissingExtra, require_torch

#: The commands, in --help order: each is the module ``pipelines.cli.NAME``.
COMMANDS = ["detect", "verify", "prepare", "enroll", "search", "gallery", "cluster", "video", "frontalize", "train",
            "calibrate", "export", "evaluate", "serve", "models"]
#: The commands whose modules import torch (installed by ``facerec[train]``).
TORCH_COMMANDS = ("train", "calibrate", "export")


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first non-option word), if it is one."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` only that subcommand's module is imported and added."""
    parser = argparse.ArgumentParser(
        prog="facerec",
        description="Face recognition: detect faces, verify pairs, enroll and search identities, train models.",
        epilog="Run 'facerec COMMAND --help' for the options of one command.")
    parser.add_argument("--version", action="version", version=f"facerec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [command] if command in COMMANDS else COMMANDS:
        if name in TORCH_COMMANDS:
            try:
                require_torch(f"facerec {name}")
            except MissingExtra:  # still listed in --help; running it prints main's one line
                sub.add_parser(name, help=f"(needs PyTorch: {TORCH_INSTALL})")
                continue
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    if command in TORCH_COMMANDS:
        try:
            require_torch(f"facerec {command}")
        except MissingExtra as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    parser = build_parser(command)
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
