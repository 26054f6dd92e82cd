"""The workflow behind ``facerec detect IMG`` (its command line: :mod:`pipelines.cli.detect`):
Faces with boxes, scores and 5 landmarks."""
from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image, ImageDraw

from facerec.detection.detector import Detector
from facerec.io.image import load_image
from facerec.types import Detection

log = logging.getLogger(__name__)


def detect_faces(image: str, detector: Detector) -> list[Detection]:
    """Detections of one image file."""
    return detector.detect(image)


def draw_detections(image: str, detections: list[Detection], out: str | Path) -> None:
    """Write ``image`` with boxes, scores and landmarks drawn on it."""
    img = Image.fromarray(load_image(image))
    draw = ImageDraw.Draw(img)
    r = max(2, round(min(img.size) / 150))
    for d in detections:
        draw.rectangle([float(v) for v in d.box], outline=(0, 255, 0), width=r)
        draw.text((float(d.box[0]), float(d.box[1]) - 12), f"{d.score:.3f}", fill=(0, 255, 0))
        for x, y in d.landmarks:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 0, 0))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
