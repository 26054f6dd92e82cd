"""The HTTP service: :func:`create_app` builds a FastAPI app over one recognizer and a
folder of galleries.

A second front end beside :mod:`pipelines.cli`: every endpoint calls the same library and
pipeline functions as the matching CLI command and answers the same JSON as its ``--json``
output (detect: ``{"image", "faces"}``; verify: ``{"same", "score", "threshold"}``;
search: ``{"image", "faces": [SearchResult...]}``; enroll: the enroll report). Uploaded
files play the part of the CLI's paths: ``"image"`` is the upload's file name.

The routes live in :mod:`.routes` (one ``APIRouter`` per tag) and reach the shared state
through :mod:`.deps`; this module wires state, middleware, error handlers, routers, the
page and the docs.
"""
from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.routing import APIRoute
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from facerec import FaceRecognizer, __version__

from .auth import key_required
from .config import ServeConfig
from .deps import ServiceState, route_access
from .errors import install_handlers
from .galleries import GalleryStore
from .limits import BodyLimitMiddleware
from .prometheus import Metrics, MetricsMiddleware
from .quota import PixelBudget, RateLimiter
from .routes import faces, galleries, operations
from .workers import InferencePool, configure_torch_threads

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

DESCRIPTION = """\
Face detection, verification and identity search over named galleries.

* Uploads are multipart files, identified by content (JPEG, PNG, WebP, BMP, GIF, TIFF, PNM),
  never by name or Content-Type. Limits: request body `max_upload_bytes` and image
  `max_pixels` (see `GET /healthz`); over them: 413 `payload_too_large`.
* API key: `X-API-Key: KEY` or `Authorization: Bearer KEY`. Writes (enroll, remove) always
  need one; reads (detect, verify, search, listings) need one when the service listens beyond
  its machine, unless it was started with `--open-reads`. Each route's security says which
  applies to this server (an empty alternative: the key is optional); missing or invalid:
  401 `unauthorized`.
* Limits per client (API key, else IP address): requests per period and pixels of images in
  flight, and pixels in flight for the whole service (see `GET /healthz`). Over them: 429
  `too_many_requests` with `Retry-After` (seconds); a request whose images alone exceed the
  pixels-in-flight limit: 413 `payload_too_large`.
* Errors: `{"error": {"code": "...", "message": "..."}}` with codes `image_invalid`,
  `no_face`, `multiple_faces`, `model_error`, `not_found`, `unauthorized`,
  `payload_too_large`, `validation_error`, `too_many_requests`.
"""


def create_app(config: ServeConfig, recognizer: FaceRecognizer, *,
               clock: Callable[[], float] = time.monotonic, pinned: bool = False) -> FastAPI:
    """The app; galleries under ``config.gallery_dir`` are loaded now (a gallery that cannot
    be loaded with its model raises here, before anything is served). ``pinned``: the
    recognizer's model was named explicitly (``--model``/``--weights``), so every gallery uses
    it; otherwise each gallery uses :func:`facerec.models.choose_model`'s choice for it.
    ``clock``: the rate limiter's time source (seconds; tests inject one)."""
    store = GalleryStore(config.gallery_dir, recognizer, pinned)
    metrics = Metrics(store.sizes)
    pool = InferencePool(config.workers, metrics.in_flight)
    if recognizer.runtime == "torch":  # the ONNX runtime takes its threads from FACEREC_ORT_THREADS
        configure_torch_threads(config.torch_threads)
    warning = config.auth_warning()
    if warning:
        log.warning("%s", warning)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown()

    swagger_assets = _swagger_ui_assets()
    app = FastAPI(title="facerec", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  redoc_url=None, docs_url=None if swagger_assets else "/docs")
    pixels = PixelBudget(config.max_pixels_in_flight, config.max_pixels_in_flight_total)
    rates = RateLimiter(config.rate, clock) if config.rate is not None else None
    app.state.service = ServiceState(config, recognizer, store, metrics, pool, pixels, rates)
    install_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_upload_bytes)
    routers = [faces.router, galleries.router, operations.router]
    for router in routers:
        app.include_router(router)
    # The metrics label each request with the template of the route it matches, before the
    # app runs (so refusals by the body limit are labelled too). FastAPI wraps included
    # routers; their own routes (no prefix) match the same paths.
    api_routes = [route for router in routers for route in router.routes]
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: [*api_routes, *app.router.routes])
    _document_access(app, config, api_routes)

    # -- the page ----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if swagger_assets:
        # /docs from local files: FastAPI's default page loads Swagger UI from a CDN, which a
        # server without internet access (or a strict network policy) cannot reach.
        @app.get("/docs", include_in_schema=False)
        async def docs() -> Response:
            return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="facerec API",
                                       swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                       swagger_css_url="/docs-assets/swagger-ui.css",
                                       swagger_favicon_url="/docs-assets/favicon-32x32.png")

        app.mount("/docs-assets", StaticFiles(directory=swagger_assets), name="docs-assets")
    return app


def _document_access(app: FastAPI, config: ServeConfig, routes: list[BaseRoute]) -> None:
    """Each route's OpenAPI ``security`` says what this server asks (:func:`.auth.key_required`):
    FastAPI lists the key schemes on every route that reads them; where the key is optional
    here, an empty requirement is added, and with auth off none is listed. ``routes``: the
    routers' own routes (the app holds included routers, not their routes)."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = default_openapi()  # FastAPI's, cached by FastAPI: the edits below are idempotent
        for route in routes:
            write = route_access(route.dependant.dependencies) if isinstance(route, APIRoute) else None
            if write is None or not route.include_in_schema:
                continue
            for method in route.methods:
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                schemes = [s for s in operation.get("security", []) if s]
                if not config.auth or not schemes:
                    operation.pop("security", None)
                elif key_required(config, write):
                    operation["security"] = schemes
                else:
                    operation["security"] = [{}, *schemes]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _swagger_ui_assets() -> Path | None:
    """Swagger UI's files from the ``swagger-ui-bundle-v2`` package, if installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(swagger_ui_path)
    return path if (path / "swagger-ui-bundle.js").is_file() else None
