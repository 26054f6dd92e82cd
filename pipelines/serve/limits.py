"""Upload limits and content sniffing: what reaches the models is a decoded, bounded image.

* :class:`BodyLimitMiddleware` refuses a request body over ``max_bytes`` with 413
  ``payload_too_large``, before the app sees it when ``Content-Length`` says so, otherwise as
  soon as the streamed bytes pass the limit (chunked uploads): a huge upload is never
  buffered (the excess is read and discarded, up to :data:`DRAIN_LIMIT`, so the client
  gets the answer instead of a reset connection).
* :func:`decode_upload` identifies an upload by its content (PIL reads the magic bytes; the
  file name and Content-Type are ignored), accepts only common photo formats, checks the
  pixel count from the header, and decodes it at the size the detector needs
  (:class:`facerec.io.photo.Photo`: a 48 MP JPEG is decoded at 1/4 or 1/8 of its size, never in
  full unless a face needs it), so an upload's memory is bounded by the detector's copy.
"""
from __future__ import annotations

from typing import Callable

from PIL import Image
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facerec.io.photo import Photo, open_photo

from .errors import ApiError, error_response

#: PIL format names accepted from the network (MPO: multi-picture JPEGs from cameras;
#: PPM covers PGM/PBM). Formats with risky decoders (EPS via Ghostscript, ...) are refused.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF", "PPM")


def _allowed() -> list[str]:
    """:data:`ALLOWED_FORMATS` that this PIL can open (registers every plugin first)."""
    Image.init()
    return [f for f in ALLOWED_FORMATS if f in Image.OPEN]


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large",
                         f"request body exceeds the limit of {limit:,} bytes ({limit / 2**20:.1f} MiB)")


#: How much of a too-large body is still read (and discarded) before answering 413. A client
#: sends its whole body before it reads the answer; closing on unread data makes the kernel
#: reset the connection, and the client would see "connection reset" instead of the 413.
#: Bodies larger than this are refused without reading (the client may see the reset).
DRAIN_LIMIT = 64 * 1024 * 1024


async def _drain(receive: Receive, limit: int) -> None:
    """Read and discard the rest of the request body (at most ``limit`` bytes)."""
    drained = 0
    while drained <= limit:
        message = await receive()
        if message["type"] != "http.request":  # client went away
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimitMiddleware:
    """ASGI middleware bounding every HTTP request body to ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            exc = BodyTooLarge(self.max_bytes)
            if int(length) <= DRAIN_LIMIT:
                await _drain(receive, DRAIN_LIMIT)
            await error_response(413, exc.code, exc.detail, {"Connection": "close"})(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    if message.get("more_body", False):
                        await _drain(receive, DRAIN_LIMIT)
                    # An HTTPException subclass: FastAPI re-raises it from body parsing and
                    # the app's handler answers 413 in the standard error shape.
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


def decode_upload(data: bytes, max_pixels: int, what: str = "upload",
                  side_for: Callable[[int], int] | None = None) -> Photo:
    """An uploaded file → a :class:`~facerec.io.photo.Photo` (the one image rule,
    :func:`facerec.io.photo.open_photo`), identified by content (:data:`ALLOWED_FORMATS` only),
    its pixel count checked once, from the header, against ``max_pixels``, and decoded now at
    the level the service's detector will see — ``side_for(longest side)`` pixels, the rule of
    :meth:`facerec.detection.bounded.BoundedDetector.side_for` (None: in full) — so a corrupt file is
    refused here, before any model runs, and nothing is decoded twice.

    Raises :class:`facerec.errors.ImageError` for an empty, unknown, disallowed or corrupt file and its
    subclass :class:`facerec.errors.ImageTooLarge` (answered 413 ``payload_too_large``) over ``max_pixels``.
    """
    photo = open_photo(data, max_pixels=max_pixels, formats=_allowed(), what=what)
    photo.at_scale(photo.scale_for_side(side_for(max(photo.size))) if side_for is not None else 1.0)
    return photo
