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
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from facerec import FaceRecognizer, __version__

from .config import ServeConfig
from .deps import ServiceState
from .errors import install_handlers
from .galleries import GalleryStore
from .limits import BodyLimitMiddleware
from .prometheus import Metrics, MetricsMiddleware
from .routes import faces, galleries, operations
from .workers import InferencePool, configure_torch_threads

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

DESCRIPTION = """\
Face detection, verification and identity search over named galleries.

* Uploads are multipart files, identified by content (JPEG, PNG, WebP, BMP, GIF, TIFF, PNM),
  never by name or Content-Type. Limits: request body `max_upload_bytes` and image
  `max_pixels` (see `GET /healthz`); over them: 413 `payload_too_large`.
* Writes (enroll, remove) need an API key: `X-API-Key: KEY` or `Authorization: Bearer KEY`.
* Errors: `{"error": {"code": "...", "message": "..."}}` with codes `image_invalid`,
  `no_face`, `multiple_faces`, `model_error`, `not_found`, `unauthorized`,
  `payload_too_large`, `validation_error`.
"""


def create_app(config: ServeConfig, recognizer: FaceRecognizer) -> FastAPI:
    """The app; galleries under ``config.gallery_dir`` are loaded now (a gallery that cannot
    be loaded with this recognizer raises here, before anything is served)."""
    store = GalleryStore(config.gallery_dir, recognizer)
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
    app.state.service = ServiceState(config, recognizer, store, metrics, pool)
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


def _swagger_ui_assets() -> Path | None:
    """Swagger UI's files from the ``swagger-ui-bundle-v2`` package, if installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(swagger_ui_path)
    return path if (path / "swagger-ui-bundle.js").is_file() else None
