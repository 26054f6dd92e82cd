"""``facerec evaluate {lfw,csv,bin,lfw-ident}``: verification and identification benchmarks.

* ``lfw``: the standard LFW protocol on the official ``pairs.txt`` (10 folds; threshold chosen
  on the other 9; mean ± std), plus ROC AUC, EER, TAR@FAR and the best global threshold.
* ``csv``: the same on any CSV pair list (:func:`facerec.metrics.pairs.read_csv_pairs`).
* ``bin``: insightface ``.bin`` sets (already aligned 112×112 crops, no detection).
* ``lfw-ident``: closed-set rank-1/5 and open-set DIR@FAR on LFW (1,680 people with ≥ 2
  images enrolled with their first image; the other images probe; the 4,069 single-image
  people are unknown probes).

Images are detected with MTCNN and the face nearest the image centre is aligned (the LFW
convention, as ``FaceRecognizer.face(select="central", fallback_center=True)``); an image
without a detection falls back to the fixed centre crop of
:func:`facerec.alignment.center_crop_landmarks` and is counted and listed in the report.
Detections and embeddings are cached (:mod:`facerec.io.cache`).

Modules: :mod:`.embedding` (image files → cached embeddings), :mod:`.pair_scores` (pairs,
reports, ROC, ``.bin`` sets), :mod:`.identification` (LFW open/closed set), :mod:`.cli`.
"""
from __future__ import annotations

from .embedding import EmbeddedImages, embed_image_files
from .identification import (
                           IdentReport,
                           IdentSplit,
                           evaluate_identification,
                           lfw_identification_split,
                           search_gallery,
)
from .pair_scores import (
                           PairEvaluation,
                           embed_bin,
                           evaluate_pairs,
                           model_info,
                           plot_roc,
                           score_pairs,
                           verification_dict,
                           write_scores,
)

__all__ = [
    "EmbeddedImages", "IdentReport", "IdentSplit", "PairEvaluation", "add_parser", "embed_bin", "embed_image_files",
    "evaluate_identification", "evaluate_pairs", "lfw_identification_split", "model_info", "plot_roc",
    "score_pairs", "search_gallery", "verification_dict", "write_scores",
]
