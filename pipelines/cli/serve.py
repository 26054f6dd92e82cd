"""``facerec serve --gallery DIR``: the HTTP service (REST API, OpenAPI docs at /docs, a demo
page at /, Prometheus metrics at /metrics). See :mod:`pipelines.serve`.

    facerec serve --new-key                      # prints a key and the line for the keys file
    facerec serve --gallery galleries/ --api-keys keys.txt --weights model.pt
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from facerec.io.image import MAX_PIXELS

from ..extras import require
from ..serve.auth import hash_key, load_key_hashes, new_key
from ..serve.config import (
    DEFAULT_MAX_PIXELS_IN_FLIGHT,
    DEFAULT_MAX_PIXELS_IN_FLIGHT_TOTAL,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_RATE,
    ServeConfig,
    cpu_cores,
    default_workers,
)
from ..serve.quota import Rate
from .args import add_model_args, load_recognizer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP service (REST API + demo page)",
                       description="Serve detection, verification and gallery search over HTTP. Galleries are "
                                   "the sub-folders of --gallery DIR (created on first enrollment). Writes "
                                   "(enroll, remove) need an API key from --api-keys FILE; on a --host beyond "
                                   "this machine every /v1 route does (unless --open-reads). Per client (API key, "
                                   "else IP): --rate and --max-pixels-in-flight, answered 429 with Retry-After. "
                                   "Docs: /docs; page: /; metrics: /metrics.")
    p.add_argument("--gallery", metavar="DIR", help="folder holding one sub-folder per named gallery")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; any other address needs "
                        "--api-keys, --open-reads or --no-auth)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--api-keys", metavar="FILE",
                   help="file of sha256 hashes of the accepted API keys, one per line (see --hash-key)")
    p.add_argument("--no-auth", action="store_true",
                   help="accept every request without a key, writes included: for a local demo only")
    p.add_argument("--open-reads", action="store_true",
                   help="on a --host beyond this machine, serve reads (detect, verify, search, listings) "
                        "without a key, on purpose; writes still need one (on 127.0.0.1 reads are open anyway)")
    p.add_argument("--rate", type=_rate, default=DEFAULT_RATE, metavar="N/s|N/m|N/h|off",
                   help="requests per client (API key, else IP address), refilled smoothly, bursts up to N "
                        "(default: %(default)s)")
    p.add_argument("--max-pixels-in-flight", type=int, default=DEFAULT_MAX_PIXELS_IN_FLIGHT, metavar="PIXELS",
                   help="per client: width x height summed over its uploads being processed (default: %(default)d)")
    p.add_argument("--max-pixels-in-flight-total", type=int, default=DEFAULT_MAX_PIXELS_IN_FLIGHT_TOTAL,
                   metavar="PIXELS", help="the same for all clients together (default: %(default)d)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="inference threads for requests over 4 MP, besides one thread for smaller ones (default: "
                        "one per core but one, at least 1, at most 4: %(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                   help="largest request body in MB (2**20 bytes), all files together (default: %(default)g)")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help="largest image in pixels, width x height (default and maximum: %(default)d)")
    p.add_argument("--hash-key", metavar="KEY",
                   help="print the keys-file line (sha256) for KEY ('-': read KEY from stdin) and exit")
    p.add_argument("--new-key", action="store_true", help="print a new random key and its keys-file line, and exit")
    add_model_args(p)
    p.set_defaults(func=run)


def _rate(text: str) -> Rate | None:
    try:
        return Rate.parse(text)
    except ValueError as exc:  # argparse shows an ArgumentTypeError's own words
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--rate: ")) from None


def run(args: argparse.Namespace) -> int:
    if args.new_key:
        key = new_key()
        print(f"key:  {key}\nline: {hash_key(key)}")
        return 0
    if args.hash_key is not None:
        key = sys.stdin.readline().strip() if args.hash_key == "-" else args.hash_key
        print(hash_key(key))
        return 0
    hashes = load_key_hashes(args.api_keys) if args.api_keys else frozenset()
    config = ServeConfig(gallery_dir=args.gallery, api_key_hashes=hashes, auth=not args.no_auth,
                         max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=args.max_pixels,
                         workers=args.workers, host=args.host, open_reads=args.open_reads, rate=args.rate,
                         max_pixels_in_flight=args.max_pixels_in_flight,
                         max_pixels_in_flight_total=args.max_pixels_in_flight_total)  # validates every flag
    # The cores shared out among the inference threads.
    config = dataclasses.replace(config, torch_threads=max(1, cpu_cores() // config.workers))
    # Heavy imports only when serving; both come with the 'serve' extra.
    uvicorn = require("serve", "uvicorn")
    create_app = require("serve", "pipelines.serve.app").create_app

    # logs the auth warning, once; an explicit --model/--weights serves every gallery with that model
    app = create_app(config, load_recognizer(args), pinned=bool(args.model or args.weights))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning",
                access_log=bool(args.verbose))
    return 0
