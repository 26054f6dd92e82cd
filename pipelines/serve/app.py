"""The HTTP service: :func:`create_app` builds a FastAPI app over one recognizer and a
folder of galleries.

A second front end beside :mod:`pipelines.cli`: every endpoint calls the same library and
pipeline functions as the matching CLI command and answers the same JSON as its ``--json``
output (detect: ``{"image", "faces"}``; verify: ``{"same", "score", "threshold"}``;
search: ``{"image", "faces": [SearchResult...]}``; enroll: the enroll report). Uploaded
files play the part of the CLI's paths: ``"image"`` is the upload's file name.
"""
from __future__ import annotations

import base64
import io
import json
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, TypeVar

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Path as PathParam, Query, UploadFile
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from PIL import Image

from facerec import FaceRecognizer, ModelError, __version__
from facerec.gallery import Gallery

from ..detect import detect_faces
from ..enroll import EnrollReport, parse_face
from ..verify import verify_pair
from .auth import key_matches
from .config import ServeConfig
from .errors import ApiError, install_handlers
from .galleries import GalleryStore
from .limits import BodyLimitMiddleware, decode_upload
from .metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from .workers import InferencePool, configure_torch_threads

log = logging.getLogger(__name__)
T = TypeVar("T")

STATIC_DIR = Path(__file__).parent / "static"
#: Most files one enrollment request may carry.
MAX_ENROLL_FILES = 32

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (writes)")
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token (writes)")

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


def _png_base64(crop: np.ndarray) -> str:
    """(H, W, 3) uint8 → base64 PNG (for showing aligned crops on the page)."""
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _user_errors(fn: Callable[[], T]) -> T:
    """Run a library call; its ``ValueError`` (bad name, bad k) is the caller's input, and
    its ``KeyError`` (unknown identity) a missing resource."""
    try:
        return fn()
    except KeyError as exc:
        raise ApiError(404, "not_found", str(exc.args[0]) if exc.args else "not found") from None
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None


def create_app(config: ServeConfig, recognizer: FaceRecognizer) -> FastAPI:
    """The app; galleries under ``config.gallery_dir`` are loaded now (a gallery that cannot
    be loaded with this recognizer raises here, before anything is served)."""
    store = GalleryStore(config.gallery_dir, recognizer)
    metrics = Metrics(store.sizes)
    pool = InferencePool(config.workers, metrics.in_flight)
    configure_torch_threads(config.torch_threads)
    if not config.auth:
        log.warning("API keys are OFF (--no-auth): anyone who can reach this server can change its galleries")
    elif not config.api_key_hashes:
        log.warning("no API keys configured: writes (enroll, remove) are refused")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown()

    swagger_assets = _swagger_ui_assets()
    app = FastAPI(title="facerec", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  redoc_url=None, docs_url=None if swagger_assets else "/docs")
    app.state.config, app.state.store, app.state.metrics, app.state.pool = config, store, metrics, pool
    app.state.recognizer = recognizer
    install_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: app.router.routes)

    def require_key(x_api_key: str | None = Depends(_api_key_header),
                    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        """Writes need a key listed (hashed) in the keys file, unless auth is off."""
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

    def decode(data: bytes, filename: str) -> np.ndarray:
        return decode_upload(data, config.max_pixels, what=filename)

    async def read_upload(upload: UploadFile, default_name: str) -> tuple[str, bytes]:
        return upload.filename or default_name, await upload.read()

    # -- faces ---------------------------------------------------------------------------------
    @app.post("/v1/detect", tags=["faces"], summary="Detect faces: boxes, scores, 5 landmarks")
    async def detect(image: UploadFile = File(..., description="the photo")) -> dict[str, Any]:
        name, data = await read_upload(image, "image")

        def work() -> dict[str, Any]:
            dets = detect_faces(decode(data, name), recognizer.detector)  # type: ignore[arg-type]
            return {"image": name, "faces": [d.to_dict() for d in dets]}

        return await pool.run(work)

    @app.post("/v1/verify", tags=["faces"], summary="Are two photos the same person?")
    async def verify(image_a: UploadFile = File(..., description="first photo (its largest face is used)"),
                     image_b: UploadFile = File(..., description="second photo (its largest face is used)"),
                     threshold: float | None = Query(None, ge=-1.0, le=1.0,
                                                     description="decision threshold (default: the model's)"),
                     crops: bool = Query(False, description="also return both aligned face crops as "
                                                            "base64 PNG")) -> dict[str, Any]:
        (name_a, data_a), (name_b, data_b) = await read_upload(image_a, "image_a"), await read_upload(image_b, "image_b")

        def work() -> dict[str, Any]:
            a, b = decode(data_a, name_a), decode(data_b, name_b)
            out: dict[str, Any] = verify_pair(recognizer, a, b, threshold).to_dict()  # type: ignore[arg-type]
            if crops:  # the same faces verify used (largest, deterministic)
                out["crops"] = {"a": _png_base64(recognizer.face(a).crop), "b": _png_base64(recognizer.face(b).crop)}
            return out

        return await pool.run(work)

    # -- galleries -------------------------------------------------------------------------------
    def name_param() -> Any:
        return PathParam(..., description="gallery name: 1-64 of A-Z a-z 0-9 _ -")

    def identity_param() -> Any:
        return PathParam(..., description="identity name (URL-encoded; any printable text)")

    # Gallery bookkeeping that runs no model (locks, disk) uses Starlette's thread pool, so it
    # never queues behind inference.

    @app.get("/v1/galleries", tags=["galleries"], summary="The galleries and their sizes")
    async def galleries() -> dict[str, Any]:
        sizes = await run_in_threadpool(store.sizes)
        return {"galleries": [{"name": n, "identities": i, "templates": t} for n, (i, t) in sizes.items()]}

    @app.get("/v1/galleries/{name}/identities", tags=["galleries"], summary="Identities of a gallery")
    async def identities(name: str = name_param()) -> dict[str, Any]:
        def work(g: Gallery) -> dict[str, Any]:
            # The shape of 'facerec gallery list --json', with the gallery's name for its folder.
            return {"gallery": name, "model_id": g.model_id, "dim": g.dim, "index": g.index_type,
                    "aggregation": g.aggregation, "threshold": g.threshold, "identities": len(g),
                    "templates": g.num_templates, "people": [g.info(n).to_dict() for n in g.identities()]}

        return await run_in_threadpool(store.read, name, work)

    @app.post("/v1/galleries/{name}/identities/{identity:path}", tags=["galleries"],
              summary="Enroll photos of a person (needs an API key)", dependencies=[Depends(require_key)])
    async def enroll(name: str = name_param(), identity: str = identity_param(),
                     images: list[UploadFile] = File(..., description="photos of the person, one face each "
                                                                      "(or pick one with face=)"),
                     face: str | None = Query(None, description="with several faces per photo: an index "
                                                                "(highest detector score first) or 'largest'"),
                     metadata: str | None = Form(None, description="JSON object stored with the identity")) -> dict[str, Any]:
        if len(images) > MAX_ENROLL_FILES:
            raise ApiError(422, "validation_error", f"at most {MAX_ENROLL_FILES} photos per request")
        try:
            choice = parse_face(face)
        except Exception as exc:  # argparse.ArgumentTypeError
            raise ApiError(422, "validation_error", str(exc).replace("--face", "face")) from None
        meta = _parse_metadata(metadata)
        uploads = [await read_upload(f, f"image {i}") for i, f in enumerate(images)]

        def work() -> dict[str, Any]:
            rgbs = [decode(data, fname) for fname, data in uploads]  # all decoded before the lock

            def change(g: Gallery) -> dict[str, Any]:
                n = _user_errors(lambda: g.enroll(identity, rgbs, face=choice, metadata=meta))
                return {**EnrollReport({identity: n}).to_dict(), "gallery": name, "identities": len(g)}

            return store.write(name, change, create=True)

        return await pool.run(work)

    @app.delete("/v1/galleries/{name}/identities/{identity:path}", tags=["galleries"],
                summary="Remove a person and all their photos (needs an API key)", dependencies=[Depends(require_key)])
    async def remove(name: str = name_param(), identity: str = identity_param()) -> dict[str, Any]:
        def change(g: Gallery) -> dict[str, Any]:
            n = _user_errors(lambda: g.info(identity).num_templates)
            g.remove(identity)
            return {"gallery": name, "removed": identity, "templates": n, "identities": len(g)}

        return await run_in_threadpool(store.write, name, change)

    @app.post("/v1/galleries/{name}/search", tags=["galleries"], summary="Who is in this photo?")
    async def search(name: str = name_param(), image: UploadFile = File(..., description="the photo; every face is searched"),
                     k: int = Query(5, ge=1, le=100, description="candidates per face"),
                     threshold: float | None = Query(None, ge=-1.0, le=1.0,
                                                     description="open-set threshold (default: the gallery's)")) -> dict[str, Any]:
        fname, data = await read_upload(image, "image")

        def work() -> dict[str, Any]:
            rgb = decode(data, fname)
            results = store.read(name, lambda g: _user_errors(lambda: g.search(rgb, k=k, threshold=threshold)))
            # The shape of 'facerec search --json'.
            return {"image": fname, "faces": [r.to_dict() for r in results]}

        return await pool.run(work)

    # -- operations ------------------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"], summary="Liveness, model and limits")
    async def healthz() -> dict[str, Any]:
        try:
            threshold: float | None = recognizer.threshold
        except ModelError:
            threshold = None
        return {"status": "ok", "version": __version__, "model_id": recognizer.model_id, "threshold": threshold,
                "galleries": store.names(), "workers": config.workers,
                "auth": config.auth, "max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics_endpoint() -> Response:
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

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


def _parse_metadata(text: str | None) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise ApiError(422, "validation_error", f"metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ApiError(422, "validation_error", "metadata must be a JSON object")
    return meta
