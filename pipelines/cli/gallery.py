"""``facerec gallery``: the command line of :mod:`pipelines.gallery_admin` (arguments in, one workflow call, output)."""
from __future__ import annotations

import argparse

from ..gallery_admin import list_gallery, remove_identity
from .args import emit_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="list or remove the people in a gallery",
                       description="Inspect or edit a gallery folder made by 'facerec enroll'.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="identities with their number of photos")
    ls.add_argument("--gallery", required=True, metavar="DIR")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)
    rm = actions.add_parser("remove", help="delete one identity and all its templates")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--gallery", required=True, metavar="DIR")
    rm.set_defaults(func=run_remove)


def run_list(args: argparse.Namespace) -> int:
    info = list_gallery(args.gallery)
    if args.json:
        emit_json(info)
        return 0
    print(f"gallery {args.gallery}: {info['identities']} identities, {info['templates']} templates "
          f"(model {info['model'] or 'unnamed'} {info['model_id']}, d={info['dim']}, index {info['index']}, aggregation {info['aggregation']})")
    for person in info["people"]:
        print(f"  {person['name']}\t{person['num_templates']}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    n = remove_identity(args.gallery, args.name)
    print(f"removed {args.name} ({n} template(s)) from {args.gallery}")
    return 0
