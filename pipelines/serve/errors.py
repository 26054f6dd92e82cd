"""Every error the service returns: ``{"error": {"code": "...", "message": "..."}}``.

Codes are stable (clients branch on them); messages are for people. No handler ever
returns a traceback: unexpected exceptions are logged server-side and answered with a
generic 500 ``internal_error``.
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pydantic import BaseModel

from facerec.errors import (AlignmentError, FacerecError, ImageError, ImageTooLarge, LowQualityError, ModelError,
                            MultipleFacesError, NoFaceError)

from .quota import QuotaExceeded

log = logging.getLogger(__name__)

#: facerec exception type → (HTTP status, code); the most specific type first.
FACEREC_ERRORS: tuple[tuple[type[FacerecError], int, str], ...] = (
    (ImageTooLarge, 413, "payload_too_large"),  # over max_pixels
    (ImageError, 400, "image_invalid"),
    (NoFaceError, 422, "no_face"),
    (AlignmentError, 422, "no_face"),  # degenerate landmarks: no usable face
    (MultipleFacesError, 422, "multiple_faces"),
    (LowQualityError, 422, "low_quality"),  # enrollment with strict_quality
    (ModelError, 409, "model_error"),  # e.g. a gallery built with another model
)

#: HTTP status → code for errors raised by the framework (routing, body limit, auth).
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
                422: "validation_error", 429: "too_many_requests", 500: "internal_error",
                503: "unavailable"}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error answer (OpenAPI schema)."""

    error: ErrorDetail


#: What each status means, for the OpenAPI document (codes in brackets).
STATUS_DESCRIPTIONS = {
    400: "the upload is not a readable image of an accepted format (image_invalid)",
    401: "missing or invalid API key where this route needs one (writes always; every /v1 route when the "
         "service listens beyond this machine without --open-reads), or the server has none (unauthorized)",
    404: "no such gallery or identity (not_found)",
    409: "the model cannot do this: no calibrated threshold, or a gallery of another model (model_error)",
    413: "request body over max_upload_bytes, an image over max_pixels, or images totalling more than "
         "max_pixels_in_flight (payload_too_large)",
    422: "invalid parameters (validation_error), no / several faces where one is needed "
         "(no_face, multiple_faces), or a face below the quality an enrollment asked for (low_quality)",
    429: "over this client's request rate, or its or the service's pixels in flight; retry after "
         "Retry-After seconds (too_many_requests)",
    500: "server-side fault, logged (internal_error, gallery_error)",
}

#: Headers documented per status: every 429 says when to retry (clients may rely on it).
STATUS_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "'Bearer' when a key is missing or invalid",
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait before retrying (an integer, at least 1)",
                          "required": True, "schema": {"type": "integer", "minimum": 1}}},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route answering ``statuses`` (plus 500, which any route
    may answer) with :class:`ErrorBody`."""
    return {status: {"model": ErrorBody, "description": STATUS_DESCRIPTIONS[status],
                     **({"headers": STATUS_HEADERS[status]} if status in STATUS_HEADERS else {})}
            for status in sorted({*statuses, 500})}


def quota_error(exc: QuotaExceeded) -> ApiError:
    """A refused limit: 429 ``too_many_requests`` with ``Retry-After``, or 413
    ``payload_too_large`` when waiting cannot help (the request alone is over the limit)."""
    if exc.retry_after is None:
        return ApiError(413, "payload_too_large", exc.message)
    return ApiError(429, "too_many_requests", exc.message, {"Retry-After": str(max(1, int(exc.retry_after)))})


class ApiError(StarletteHTTPException):
    """An error with a stable code. Subclasses Starlette's HTTPException so FastAPI re-raises
    it untouched even from inside body parsing."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def facerec_status(exc: FacerecError) -> tuple[int, str]:
    """(HTTP status, code) of a facerec error; other FacerecErrors (e.g. a corrupt saved
    gallery) are server-side faults: 500 ``gallery_error``."""
    for cls, status, code in FACEREC_ERRORS:
        if isinstance(exc, cls):
            return status, code
    return 500, "gallery_error"


def install_handlers(app: FastAPI) -> None:
    """Route every exception through :func:`error_response`."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid")))
        return error_response(422, "validation_error", "; ".join(parts) or "invalid request")

    @app.exception_handler(FacerecError)
    async def _facerec(request: Request, exc: FacerecError) -> JSONResponse:
        status, code = facerec_status(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(status, code, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error (see the server log)")
