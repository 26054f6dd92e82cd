"""``/healthz`` (liveness, model and limits) and ``/metrics`` (Prometheus text)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from facerec import __version__

from ..auth import key_required
from ..deps import State
from ..errors import error_responses
from ..prometheus import CONTENT_TYPE

router = APIRouter(tags=["operations"])

#: /metrics serves Prometheus' text exposition format, not JSON.
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Prometheus text exposition format",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
    500: error_responses()[500],
}


@router.get("/healthz", summary="Liveness, model and limits", responses=error_responses(),
            description="`detector`: the named detector new galleries are built with. `threshold`: the model's default gallery threshold "
                        "(`FaceRecognizer.search_threshold`; null for an uncalibrated model). "
                        "`reads_need_key`: whether detect, verify, search and the listings need an API key "
                        "here; `rate` (per client, null: none) and the pixels-in-flight limits.")
async def healthz(state: State) -> dict[str, Any]:
    config = state.config
    return {"status": "ok", "version": __version__, "model": state.recognizer.model_name,
            "model_id": state.recognizer.model_id,
            "detector": getattr(state.recognizer.detector, "name", None),
            "threshold": state.recognizer.search_threshold,
            "galleries": state.store.names(), "workers": config.workers,
            "auth": config.auth, "reads_need_key": key_required(config, write=False),
            "max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels,
            "rate": str(config.rate) if config.rate is not None else None,
            "max_pixels_in_flight": config.max_pixels_in_flight,
            "max_pixels_in_flight_total": config.max_pixels_in_flight_total}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses=METRICS_RESPONSES)
async def metrics(state: State) -> Response:
    body = await run_in_threadpool(state.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
