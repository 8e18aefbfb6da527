"""Prometheus metrics: requests and latency by route template, method and status."""

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import Scope

# prometheus-client itself reads this variable when it is imported, so the process environment
# (not .env) is what switches every worker to shared files.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Around the plan's 500 ms p95 target, fine-grained below it.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LABELS = ("method", "route", "status")


class HttpMetrics:
    """One set per app; label values come from route templates, never from raw paths or users."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests", "HTTP requests answered.", _LABELS, registry=self.registry
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time from request to last response byte.",
            _LABELS,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._multiprocess = MULTIPROC_ENV in os.environ

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        labels = (method, route_template(scope), str(status))
        self._requests.labels(*labels).inc()
        self._latency.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        """The exposition text: this process's metrics, or every worker's in multiprocess mode."""
        if not self._multiprocess:
            return _generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # unannotated upstream
        return _generate_latest(merged)


def route_template(scope: Scope) -> str:
    # The router records the matched route in the scope; an unmatched path (a scan for
    # /wp-admin, say) must not become a label value of its own.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
