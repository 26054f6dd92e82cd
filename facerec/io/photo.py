"""A photo decoded at the resolution each step needs: :class:`Photo`.

Detection needs a copy whose longest side is bounded (a few hundred to a few thousand pixels);
alignment needs about the crop's resolution around each face. A 48 MP JPEG decoded in full is
144 MB of RGB (and ~0.3 s); libjpeg can decode it at 1/2, 1/4 or 1/8 of its size directly
from the DCT coefficients (PIL's :meth:`~PIL.Image.Image.draft`), several times faster and
with the memory of the smaller image. :class:`Photo` opens a file or bytes once (size read from
the header, checked against the pixel limit before any pixel is decoded) and decodes a *level*
(a DCT scale) only when asked, keeping what it decoded for the next request.

Arrays and PIL images are already decoded: their only level is the image itself. Other
formats than colour and grey JPEG (PNG, WebP, CMYK JPEG, ...) are decoded in full when opened,
from that one open. Sizes and coordinates are those of the original after EXIF orientation.

Colour and grey JPEGs that end with their end-of-image marker are decoded by OpenCV
(``cv2.imdecode``, ``IMREAD_REDUCED_COLOR_{2,4,8}``): the same libjpeg output as PIL's, pixel
for pixel (checked on 936 LFW, CelebA and group photos and levels), 3× faster at full size
(33 vs 96 ms for 12 MP) and straight into one array, where PIL holds a 4-byte-per-pixel image
and copies it. A truncated JPEG, or one with data after the image, goes through PIL, whose
errors name what is wrong.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from typing import Callable, Union

import numpy as np
from PIL import Image

from facerec.errors import ImageError, ImageTooLarge
from facerec.io.image import MAX_PIXELS, ImageInput, _array_to_rgb, _check_size, _open_pil, _pil_to_rgb

#: The DCT scales libjpeg decodes at directly (PIL's ``draft`` picks among them).
DCT_SCALES = (1.0, 0.5, 0.25, 0.125)
#: EXIF orientations that swap width and height (90° and 270° rotations, transposes).
_SWAPPING = {5, 6, 7, 8}
#: OpenCV's flag for each DCT level.
_CV2_LEVEL = {1.0: "IMREAD_COLOR", 0.5: "IMREAD_REDUCED_COLOR_2", 0.25: "IMREAD_REDUCED_COLOR_4",
              0.125: "IMREAD_REDUCED_COLOR_8"}


def orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W, C) array as PIL's ``exif_transpose`` does."""
    if orientation == 2:
        return rgb[:, ::-1]
    if orientation == 3:
        return rgb[::-1, ::-1]
    if orientation == 4:
        return rgb[::-1]
    if orientation == 5:
        return rgb.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(rgb, -1)
    if orientation == 7:
        return np.rot90(rgb, 2).transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(rgb, 1)
    return rgb


class Photo:
    """An image that decodes at the resolution asked for.

    ``width``/``height``: the original's size after EXIF orientation. :meth:`at_scale` gives an
    RGB ``(h, w, 3) uint8`` array at least ``scale`` times the original's size (a DCT level of a
    JPEG, else the full image) and the exact scale it has; :meth:`full` the whole image.
    Thread-safe: a level is decoded once even when several threads ask for it.
    """

    def __init__(self, source: Union[str, os.PathLike, bytes, None], width: int, height: int, what: str,
                 decoded: np.ndarray | None = None, orientation: int = 1) -> None:
        # ``source``: a colour or grey JPEG (path or bytes) whose levels are decoded on demand;
        # None for an image decoded already (``decoded``, its only level).
        self._source = source
        self.width = int(width)
        self.height = int(height)
        self.what = what
        self._orientation = orientation
        self._levels: dict[float, np.ndarray] = {} if decoded is None else {1.0: decoded}
        self._lock = threading.Lock()

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the original (oriented)."""
        return self.width, self.height

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_levels(self) -> tuple[float, ...]:
        """The levels decoded so far (1.0: the full image), coarsest first."""
        with self._lock:
            return tuple(sorted(self._levels))

    def scale_for_side(self, side: int) -> float:
        """The smallest scale at which the longest side is still ≥ ``side`` (1.0 at most)."""
        return min(1.0, side / max(self.width, self.height))

    def at_scale(self, scale: float) -> tuple[np.ndarray, float]:
        """``(rgb, s)``: the image decoded at a level ``s ≥ scale`` (the coarsest such DCT level
        for JPEG files, 1.0 otherwise); pixel ``(x, y)`` of the original is ``(x·s, y·s)`` there."""
        level = 1.0
        if self._source is not None:
            level = min((s for s in DCT_SCALES if s >= min(1.0, scale) - 1e-9), default=1.0)
        with self._lock:
            # A finer level already decoded serves too (no second decode of the same photo).
            have = [s for s in self._levels if s >= level]
            if have:
                s = min(have)
                return self._levels[s], self._actual_scale(self._levels[s])
            rgb = self._decode(level)
            self._levels[level] = rgb
        return rgb, self._actual_scale(rgb)

    def full(self) -> np.ndarray:
        """The whole image at its original size."""
        return self.at_scale(1.0)[0]

    def _actual_scale(self, rgb: np.ndarray) -> float:
        # libjpeg rounds a scaled side up (ceil(w/8)); measure the scale on the longest side.
        return max(rgb.shape[1], rgb.shape[0]) / max(self.width, self.height)

    def _decode(self, level: float) -> np.ndarray:
        assert self._source is not None
        rgb = self._decode_cv2(level)
        if rgb is not None:
            return rgb
        src = io.BytesIO(self._source) if isinstance(self._source, (bytes, bytearray)) else os.fspath(self._source)
        return _decode_pil(lambda: Image.open(src), self.what, level)

    def _decode_cv2(self, level: float) -> np.ndarray | None:
        """The level decoded by OpenCV, or None where PIL must decode (see the module notes)."""
        import cv2

        try:
            data = (np.frombuffer(self._source, np.uint8) if isinstance(self._source, (bytes, bytearray))
                    else np.fromfile(os.fspath(self._source), np.uint8))
        except OSError:
            return None
        # A file cut short has no end-of-image marker: OpenCV would fill the rest with grey.
        if data.size < 4 or data[-2] != 0xFF or data[-1] != 0xD9:
            return None
        flags = getattr(cv2, _CV2_LEVEL[level]) | cv2.IMREAD_IGNORE_ORIENTATION
        bgr = cv2.imdecode(data, flags)
        if bgr is None or bgr.ndim != 3:
            return None
        rgb = orient(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr), self._orientation)
        return np.ascontiguousarray(rgb)


def _decode_pil(open_image: Callable[[], Image.Image], what: str, level: float = 1.0) -> np.ndarray:
    """PIL's decode of the image ``open_image()`` gives (a JPEG at ``level`` when < 1), as RGB;
    its errors as :class:`ImageError` / :class:`ImageTooLarge` naming ``what``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = open_image()
            if level < 1.0:
                # draft() picks the largest DCT reduction whose size stays >= the one asked
                # for, and libjpeg rounds a reduced side up: ask for the floor, or an odd side
                # (2825 / 2 = 1412.5 -> 1413) would fall back to the next finer level.
                w, h = img.size
                img.draft("RGB", (max(1, int(w * level)), max(1, int(h * level))))
            img.load()
        return _pil_to_rgb(img)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{what}: image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{what}: cannot decode image ({exc})") from None


def open_photo(image: "ImageInput | Photo", *, max_pixels: int = MAX_PIXELS, formats: list[str] | tuple[str, ...] | None = None,
               what: str | None = None) -> Photo:
    """A :class:`Photo` of ``image`` (a path, bytes, a PIL image, an RGB array, or a Photo).

    Files and bytes are opened and their size checked from the header (``max_pixels``,
    ``formats`` and ``what`` as in :func:`facerec.io.image.load_image`); a colour or grey JPEG is
    not decoded yet, any other image is decoded in full now.
    Raises :class:`~facerec.errors.ImageError` for unreadable input.
    """
    if isinstance(image, Photo):
        return image
    max_pixels = min(max_pixels, MAX_PIXELS)
    if isinstance(image, np.ndarray):
        rgb = _array_to_rgb(image, max_pixels)
        return Photo(None, rgb.shape[1], rgb.shape[0], what or "image array", decoded=rgb)
    if isinstance(image, Image.Image):
        _check_size(image.width, image.height, what or "PIL image", max_pixels)
        rgb = _pil_to_rgb(image)
        return Photo(None, rgb.shape[1], rgb.shape[0], what or "PIL image", decoded=rgb)
    if isinstance(image, (str, os.PathLike, bytes, bytearray)):
        name = str(what or ("image bytes" if isinstance(image, (bytes, bytearray)) else os.fspath(image)))
        img = _open_pil(image, name, max_pixels, formats)
        if img.format in ("JPEG", "MPO") and img.mode in ("RGB", "L"):
            # A JPEG's EXIF block is in its header: reading it decodes no pixel (a PNG's may
            # follow the pixels, and PIL decodes them all to find it).
            try:
                orientation = int(img.getexif().get(0x0112, 1))
            except Exception:  # a broken EXIF block: PIL's exif_transpose ignores it too
                orientation = 1
            w, h = img.size[::-1] if orientation in _SWAPPING else img.size
            img.close()  # its levels are decoded when asked for
            return Photo(bytes(image) if isinstance(image, bytearray) else image, w, h, name, orientation=orientation)
        # Anything else (PNG, WebP, CMYK JPEG, ...) is decoded now, in full, once, from this
        # open, so a broken file is refused here (PIL applies the EXIF orientation itself).
        rgb = _decode_pil(lambda: img, name)
        return Photo(None, rgb.shape[1], rgb.shape[0], name, decoded=rgb)
    raise ImageError(f"unsupported image input of type {type(image).__name__}")
