"""``make demo`` / ``python -m pipelines.demo``: the whole mission on real faces.

1. verify a few LFW pairs from the official ``pairs.txt`` (same and different people);
2. enroll ORL people from 5 photos each into a FAISS gallery, identify their other 5
   photos, and show that people never enrolled come back as unknown.

Uses the default named model (or ``--model NAME`` / ``--weights PATH``); data from
``$FACEREC_DATA_DIR``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


from facerec import FaceRecognizer, FacerecError
from facerec.gallery import Gallery
from facerec.metrics.pairs import read_lfw_pairs

from .paths import data_dir

log = logging.getLogger(__name__)


def existing_data_dir() -> Path:
    """The face data folder (:func:`pipelines.paths.data_dir`); FacerecError if it is missing."""
    p = data_dir()
    if not p.is_dir():
        raise FacerecError(f"face data not found at {p}: set FACEREC_DATA_DIR")
    return p


def demo_verify(rec: FaceRecognizer, data: Path, n: int) -> float:
    """Verify the first ``n`` same and ``n`` different pairs of LFW fold 1; returns accuracy."""
    pairs = read_lfw_pairs(data / "lfw_pairs.txt", data / "lfw")
    chosen = [p for p in pairs if p.same][:n] + [p for p in pairs if not p.same][:n]
    print(f"\n== 1. Verification: {len(chosen)} LFW pairs (threshold {rec.threshold:.3f}) ==")
    correct = 0
    for p in chosen:
        # LFW convention: the labelled person is the face nearest the centre.
        res = rec.verify(p.path_a, p.path_b, select="central", fallback_center=True)
        score, said = res.score, res.same
        correct += said == p.same
        mark = "ok " if said == p.same else "XX "
        print(f"  {mark}{Path(p.path_a).stem:>28} vs {Path(p.path_b).stem:<28} score {score:+.3f} -> "
              f"{'same' if said else 'different':9} (truth: {'same' if p.same else 'different'})")
    acc = correct / len(chosen)
    print(f"  {correct}/{len(chosen)} correct")
    return acc


def demo_gallery(rec: FaceRecognizer, data: Path, people: int, unknown: int) -> tuple[float, float]:
    """Enroll ORL people from photos 1-5, identify photos 6-10; unenrolled people as unknowns.
    Returns (rank-1 identification rate, share of unknown probes rejected)."""
    orl = data / "orl"
    subjects = sorted((d for d in orl.iterdir() if d.is_dir()), key=lambda d: int(d.name.lstrip("s")))
    enrolled, strangers = subjects[:people], subjects[people:people + unknown]
    print(f"\n== 2. Gallery: enroll {len(enrolled)} ORL people from 5 photos each, identify their other 5 ==")
    gallery = Gallery(rec)
    for d in enrolled:
        photos = sorted(d.glob("*.pgm"), key=lambda p: int(p.stem))
        gallery.enroll(d.name, [rec.face(p, fallback_center=True).embedding for p in photos[:5]])
    hits = total = 0
    for d in enrolled:
        photos = sorted(d.glob("*.pgm"), key=lambda p: int(p.stem))[5:]
        found = [gallery.search(rec.face(p, fallback_center=True).embedding, k=1)[0] for p in photos]
        ok = sum(r.identity == d.name for r in found)
        hits, total = hits + ok, total + len(photos)
        names = ", ".join(r.identity or "unknown" for r in found)
        print(f"  {d.name:>4}: {ok}/{len(photos)} identified  [{names}]")
    rejected = n_unknown = 0
    for d in strangers:
        for p in sorted(d.glob("*.pgm"))[:3]:
            r = gallery.search(rec.face(p, fallback_center=True).embedding, k=1)[0]
            rejected += r.identity is None
            n_unknown += 1
    print(f"  rank-1 identification: {hits}/{total} = {hits / total:.1%}")
    print(f"  people never enrolled: {rejected}/{n_unknown} probes answered 'unknown' "
          f"(open-set threshold {gallery.threshold:.3f})")
    return hits / total, rejected / max(n_unknown, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="named model (see 'facerec models'; default: the default model)")
    ap.add_argument("--weights", help="model file instead of a named model")
    ap.add_argument("--pairs", type=int, default=4, help="same and different LFW pairs to show, each (default: 4)")
    ap.add_argument("--people", type=int, default=10, help="ORL people to enroll (default: 10)")
    ap.add_argument("--unknown", type=int, default=5, help="ORL people never enrolled (default: 5)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    try:
        data = existing_data_dir()
        rec = FaceRecognizer.load(args.weights, model=args.model)
        print(f"facerec demo — model {rec.model_name or rec.embedder.backbone_name} ({rec.model_id}, "
              f"{rec.runtime}), data {data}")
        acc = demo_verify(rec, data, args.pairs)
        rank1, rejected = demo_gallery(rec, data, args.people, args.unknown)
    except FacerecError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    print(f"\nSummary: LFW pairs {acc:.0%} correct; ORL rank-1 {rank1:.0%}; unknowns rejected {rejected:.0%}; "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
