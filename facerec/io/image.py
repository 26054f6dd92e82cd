"""Image loading: THE one place that turns user input into an RGB uint8 array.

Accepts a path (str / ``os.PathLike``), raw bytes, a PIL image or a numpy array and returns
``(H, W, 3) uint8`` RGB. Handles every PIL mode (L, LA, P, RGB, RGBA, CMYK, I;16, I, F),
EXIF orientation and animated files (first frame). Numpy arrays are taken as RGB (not
OpenCV's BGR) with shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), dtype uint8, uint16
or float in [0, 1].
"""
from __future__ import annotations

import io
import os
import warnings
from typing import Sequence, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facerec.errors import ImageError, ImageTooLarge

ImageInput = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]

#: Largest image accepted, in pixels (decompression-bomb guard): 64 megapixels,
#: e.g. 8000×8000. Larger inputs raise :class:`~facerec.errors.ImageTooLarge` before decoding.
MAX_PIXELS = 64_000_000
#: Smallest accepted side in pixels (MTCNN's smallest pyramid level is 12 px).
MIN_SIDE = 12


def _check_size(width: int, height: int, what: str, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(f"{what}: {width}x{height} exceeds the limit of {max_pixels:,} pixels")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{what}: {width}x{height} is too small (min side {MIN_SIDE} px)")


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    """PIL image of any mode → (H, W, 3) uint8 RGB, EXIF orientation applied."""
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit / 32-bit grey: rescale by the type's range, not by the image max
        # (which would brighten a dark photo).
        arr = np.asarray(img)
        scale = 255.0 / 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 1.0
        if mode == "F" and arr.max(initial=0) <= 1.0:
            scale = 255.0
        grey = np.clip(arr.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite on white: transparent regions must not become black blobs.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _array_to_rgb(arr: np.ndarray, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(arr).__name__}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got shape {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0], "image array", max_pixels)
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = (arr.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageError("image array contains NaN or inf")
        if arr.min() < 0 or arr.max() > 1:
            raise ImageError("float image arrays must lie in [0, 1]")
        out = (arr * 255.0 + 0.5).astype(np.uint8)
    else:
        raise ImageError(f"unsupported image dtype {arr.dtype} (use uint8, uint16 or float in [0, 1])")
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    elif out.shape[2] == 4:
        alpha = out[:, :, 3:4].astype(np.float32) / 255.0
        out = (out[:, :, :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(out)


def _open_pil(data: Union[str, os.PathLike, bytes], what: str, max_pixels: int,
              formats: Sequence[str] | None) -> Image.Image:
    """Open and check the size from the header, decoding no pixel (:class:`facerec.io.photo.Photo`
    decodes later, at the size it needs)."""
    try:
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else os.fspath(data)
        if isinstance(src, io.BytesIO):
            if not data:
                raise ImageError(f"{what}: empty file")
        else:
            if not os.path.exists(src):
                raise ImageError(f"{what}: no such file")
            if os.path.isdir(src):
                raise ImageError(f"{what}: is a directory, not an image")
            if os.path.getsize(src) == 0:
                raise ImageError(f"{what}: empty file")
        with warnings.catch_warnings():
            # PIL warns (not raises) on large images; our own limit applies instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(src, formats=formats)
        _check_size(img.width, img.height, what, max_pixels)
        return img
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{what}: image too large ({exc})") from None
    except UnidentifiedImageError:
        if formats is not None:
            raise ImageError(f"{what}: not a supported image ({', '.join(formats)})") from None
        raise ImageError(f"{what}: not a recognised image file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{what}: cannot decode image ({exc})") from None


def load_image(image: ImageInput, *, max_pixels: int = MAX_PIXELS, formats: Sequence[str] | None = None,
               what: str | None = None) -> np.ndarray:
    """Load ``image`` as an ``(H, W, 3) uint8`` RGB array.

    ``max_pixels``: a lower pixel limit than :data:`MAX_PIXELS` (checked once, from the file
    header, before decoding). ``formats``: PIL format names accepted from files and bytes
    (None: any PIL can open). ``what``: the name error messages use (default: the path, or
    "image bytes").

    Raises :class:`~facerec.errors.ImageError` for unreadable, corrupt or tiny input, and its
    subclass :class:`~facerec.errors.ImageTooLarge` over the pixel limit.
    """
    # One reading of every kind of input: facerec.io.photo.open_photo (here at full size).
    from facerec.io.photo import open_photo

    return open_photo(image, max_pixels=max_pixels, formats=formats, what=what).full()
