"""What every route shares, handed to it by FastAPI dependencies: the service state (config,
recognizer, galleries, metrics, worker pool, limits), the access check and upload reading.

Routes never close over ``create_app``'s locals: they declare ``state: State`` and a
:data:`ReadCaller` or :data:`WriteCaller` (the access check: key and request rate), and FastAPI
passes the one :class:`ServiceState` stored on the app.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Callable, Sequence, TypeVar

from fastapi import Depends, Path as PathParam, Request, Security, UploadFile
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from facerec import FaceRecognizer
from facerec.io.photo import Photo

from .auth import key_digest, key_matches, key_required
from .config import ServeConfig
from .errors import ApiError, quota_error
from .galleries import GALLERY_NAME, GalleryStore
from .limits import decode_upload
from .prometheus import Metrics
from .quota import PixelBudget, QuotaExceeded, RateLimiter, request_pixels
from .workers import SMALL_REQUEST_PIXELS, InferencePool

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceState:
    """Everything the routes of one app share."""

    config: ServeConfig
    recognizer: FaceRecognizer
    store: GalleryStore
    metrics: Metrics
    pool: InferencePool
    pixels: PixelBudget
    rates: RateLimiter | None

    def decode(self, data: bytes, filename: str) -> Photo:
        """An upload → a photo decoded at the size this service's detector sees, under its pixel
        limit (faces are aligned from finer levels only where they need it)."""
        return decode_upload(data, self.config.max_pixels, what=filename,
                             side_for=getattr(self.recognizer.detector, "side_for", None))

    async def run_on_images(self, caller: "Caller", uploads: Sequence[bytes], work: Callable[[], T]) -> T:
        """Run ``work`` (which decodes ``uploads``) in the inference pool, with the uploads'
        pixels (read from their headers, before any decoding) held against the caller's and
        the service's pixels in flight until it ends, successful or not."""
        pixels = request_pixels(uploads, self.config.max_pixels)
        try:
            hold = self.pixels.admit(caller.client, pixels)
        except QuotaExceeded as exc:
            raise quota_error(exc) from None
        try:
            return await self.pool.run(hold.guard(work), small=pixels <= SMALL_REQUEST_PIXELS)
        finally:
            hold.abandon()  # gives back only if the work never started (request cancelled)


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

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="API key (see each route's security: writes always need one)")
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")


@dataclass(frozen=True)
class Caller:
    """Who the limits count a request against: ``key:<digest prefix>`` for a valid API key,
    else ``ip:<peer address>``."""

    client: str


def _check_access(request: Request, state: ServiceState, key: str | None, write: bool) -> Caller:
    """The route's key check (the rule: :func:`.auth.key_required`), then the caller's rate."""
    config = state.config
    # A key is checked only where one is needed; elsewhere a wrong one is ignored (as before).
    valid = bool(key) and bool(config.api_key_hashes) and key_matches(key, config.api_key_hashes)
    if key_required(config, write) and not valid:
        if not config.api_key_hashes:  # only writes get here: the config refuses key-less reads beyond loopback
            raise ApiError(401, "unauthorized", "writes are disabled: this server has no API keys "
                                                "(start it with --api-keys FILE)")
        what = "this endpoint" if write else "every /v1 endpoint of a service listening beyond its machine"
        if not key:
            raise ApiError(401, "unauthorized", f"{what} needs an API key: send 'X-API-Key: KEY' "
                                                "or 'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"})
        raise ApiError(401, "unauthorized", "invalid API key", {"WWW-Authenticate": "Bearer"})
    # Limits count per key when one is valid; a digest prefix names it (never the key itself).
    caller = Caller(f"key:{key_digest(key)[:16]}" if valid and key else
                    f"ip:{request.client.host if request.client else 'unknown'}")
    if state.rates is not None:
        try:
            state.rates.take(caller.client)
        except QuotaExceeded as exc:
            raise quota_error(exc) from None
    return caller


def _presented_key(x_api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    return x_api_key or (bearer.credentials if bearer is not None else None)


def read_access(request: Request, state: State, x_api_key: Annotated[str | None, Security(_api_key_header)],
                bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Caller:
    """Reads (detect, verify, search, listings): a key where :func:`.auth.key_required` says so."""
    return _check_access(request, state, _presented_key(x_api_key, bearer), write=False)


def write_access(request: Request, state: State, x_api_key: Annotated[str | None, Security(_api_key_header)],
                 bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Caller:
    """Writes (enroll, remove): a valid key, unless auth is off."""
    return _check_access(request, state, _presented_key(x_api_key, bearer), write=True)


ReadCaller = Annotated[Caller, Depends(read_access)]
WriteCaller = Annotated[Caller, Depends(write_access)]


def route_access(dependencies: Sequence[object]) -> bool | None:
    """Whether a route is a write (True), a read (False) or neither (None: no key, no limits),
    from its dependency tree (``route.dependant.dependencies``): the route declares it once."""
    stack = list(dependencies)
    while stack:
        dep = stack.pop()
        call = getattr(dep, "call", None)
        if call is write_access:
            return True
        if call is read_access:
            return False
        stack.extend(getattr(dep, "dependencies", ()))
    return None


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
