"""What every route shares, handed to it by FastAPI dependencies: the service state (config,
recognizer, galleries, metrics, worker pool), the API-key check and upload reading.

Routes never close over ``create_app``'s locals: they declare ``state: State`` (or
``Depends(require_key)``) and FastAPI passes the one :class:`ServiceState` stored on the app.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Callable, TypeVar

import numpy as np
from fastapi import Depends, Path as PathParam, Request, UploadFile
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from facerec import FaceRecognizer

from .auth import key_matches
from .config import ServeConfig
from .errors import ApiError
from .galleries import GALLERY_NAME, GalleryStore
from .limits import decode_upload
from .prometheus import Metrics
from .workers import InferencePool

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceState:
    """Everything the routes of one app share."""

    config: ServeConfig
    recognizer: FaceRecognizer
    store: GalleryStore
    metrics: Metrics
    pool: InferencePool

    def decode(self, data: bytes, filename: str) -> np.ndarray:
        """An upload → RGB array, under this service's pixel limit."""
        return decode_upload(data, self.config.max_pixels, what=filename)


def get_state(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


State = Annotated[ServiceState, Depends(get_state)]

#: Path parameters shared by the gallery routes; the name's pattern is the one rule of
#: :data:`.galleries.GALLERY_NAME`, so the schema says what the server accepts.
GalleryName = Annotated[str, PathParam(description="gallery name: 1-64 of A-Z a-z 0-9 _ -",
                                       pattern=GALLERY_NAME.pattern)]
#: Printable text, "/" included: no control character (a newline in the path never reaches
#: the route, so the schema must not call it valid).
IDENTITY_PATTERN = "^[^\u0000-\u001f\u007f]+$"
IdentityName = Annotated[str, PathParam(description="identity name (URL-encoded; any printable text)",
                                        pattern=IDENTITY_PATTERN)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (writes)")
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token (writes)")


def require_key(state: State, x_api_key: Annotated[str | None, Depends(_api_key_header)],
                bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Writes need a key listed (hashed) in the keys file, unless auth is off."""
    config = state.config
    if not config.auth:
        return
    if not config.api_key_hashes:
        raise ApiError(401, "unauthorized", "writes are disabled: this server has no API keys "
                                            "(start it with --api-keys FILE)")
    key = x_api_key or (bearer.credentials if bearer is not None else None)
    if not key:
        raise ApiError(401, "unauthorized", "this endpoint needs an API key: send 'X-API-Key: KEY' "
                                            "or 'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"})
    if not key_matches(key, config.api_key_hashes):
        raise ApiError(401, "unauthorized", "invalid API key", {"WWW-Authenticate": "Bearer"})


async def read_upload(upload: UploadFile, default_name: str) -> tuple[str, bytes]:
    """(file name, bytes) of an upload; the name plays the part of the CLI's path."""
    return upload.filename or default_name, await upload.read()


def user_errors(fn: Callable[[], T]) -> T:
    """Run a library call; its ``ValueError`` (bad name, bad k) is the caller's input, and
    its ``KeyError`` (unknown identity) a missing resource."""
    try:
        return fn()
    except KeyError as exc:
        raise ApiError(404, "not_found", str(exc.args[0]) if exc.args else "not found") from None
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
