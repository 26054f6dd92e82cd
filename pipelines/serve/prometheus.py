"""Prometheus metrics of one app instance (its own registry, so several apps — e.g. in
tests — never share counters).

* ``facerec_http_requests_total{method, route, status}``: responses sent. ``route`` is the
  route's template (``/v1/galleries/{name}/search``), never the raw path, so labels stay few.
* ``facerec_http_request_duration_seconds{method, route}``: latency histogram, from the
  request's arrival to the end of the response.
* ``facerec_gallery_identities{gallery}`` / ``facerec_gallery_templates{gallery}``: sizes of
  the loaded galleries, read when scraped.
* ``facerec_inference_in_flight``: inference jobs queued or running in the worker pool.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: () → {gallery name: (identities, templates, model name, model id)}
SizesFn = Callable[[], dict[str, tuple[int, int, "str | None", "str | None"]]]


class _GalleryCollector(Collector):
    def __init__(self, sizes: SizesFn) -> None:
        self._sizes = sizes

    def collect(self) -> Iterable[GaugeMetricFamily]:
        idents = GaugeMetricFamily("facerec_gallery_identities", "Identities in each loaded gallery", labels=["gallery"])
        tmpls = GaugeMetricFamily("facerec_gallery_templates", "Templates in each loaded gallery", labels=["gallery"])
        for name, (n_ident, n_tmpl, *_) in sorted(self._sizes().items()):
            idents.add_metric([name], n_ident)
            tmpls.add_metric([name], n_tmpl)
        yield idents
        yield tmpls


class Metrics:
    """The app's counters and histograms, and their Prometheus text rendering."""

    def __init__(self, gallery_sizes: SizesFn) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("facerec_http_requests", "HTTP responses sent",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("facerec_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("facerec_inference_in_flight", "Inference jobs queued or running",
                               registry=self.registry)
        self.registry.register(_GalleryCollector(gallery_sizes))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route ``scope`` matches, ``"/static"`` for static files, else
    ``"unmatched"`` (unknown paths must not create one label each)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", None) or "unmatched"
    return "unmatched"


class MetricsMiddleware:
    """Counts every HTTP response and times it (outermost, so refusals are counted too)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = route_template(self.routes(), scope)
        status = 500  # if the app dies before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)
