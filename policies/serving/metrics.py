"""The endpoint's Prometheus metrics, through ``prometheus_client``, on a registry of its own per app.

:class:`EndpointMetrics` holds them and renders the text format ``GET /metrics`` answers;
:class:`RequestMetrics` is the ASGI middleware that counts and times every HTTP request.

=============================================  =========  =======================================================
name                                           type       what
=============================================  =========  =======================================================
``offerlab_http_requests_total``               counter    requests by ``route``, ``method`` and ``status``
``offerlab_http_request_duration_seconds``     histogram  time to answer, by ``route`` (1 ms to 2.5 s buckets)
``offerlab_decisions_total``                   counter    decisions by ``action`` and ``policy_version`` (mix)
``offerlab_suppressions_total``                counter    suppressed moments by ``suppressed_by``
``offerlab_model_info``                        gauge      1 for each model served, by ``policy_version`` and
                                                          ``role`` (``champion``, ``challenger``)
``offerlab_decision_log_seconds_since_append`` gauge      seconds since the decision log's last append
``offerlab_decision_log_pending_lines``        gauge      lines waiting to be made durable (when the log says)
``offerlab_decision_log_last_batch_seconds``   gauge      the latest group commit's write + fsync (idem)
=============================================  =========  =======================================================

A route is the path template of the app's route that answered, or ``other`` (so a scan of random paths adds no
series).

Examples
--------
>>> from prometheus_client.parser import text_string_to_metric_families
>>> metrics = EndpointMetrics(now=lambda: 100.0)
>>> metrics.set_model("offer-policy/v3")
>>> metrics.note_decision("coupon", "offer-policy/v3")
>>> metrics.note_append(at=97.5)
>>> families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
>>> [(s.labels, s.value) for s in families["offerlab_decisions"].samples if s.name.endswith("_total")]
[({'action': 'coupon', 'policy_version': 'offer-policy/v3'}, 1.0)]
>>> families["offerlab_model_info"].samples[0].labels
{'policy_version': 'offer-policy/v3', 'role': 'champion'}
>>> families["offerlab_decision_log_seconds_since_append"].samples[0].value
2.5
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "EndpointMetrics", "RequestMetrics"]

#: Latency buckets in seconds: the endpoint's target is a few milliseconds.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EndpointMetrics:
    """The endpoint's counters, histogram and gauges on their own :class:`CollectorRegistry`.

    Parameters
    ----------
    pending_lines, last_batch_seconds
        Return the decision log's lines not yet durable and the seconds its latest batch took to write and fsync
        (None: that gauge is not exported).
    now
        The monotonic clock (a parameter for tests).
    """

    def __init__(
        self,
        pending_lines: Callable[[], float] | None = None,
        last_batch_seconds: Callable[[], float] | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry()
        self._now = now
        self._last_append: float | None = None
        self._models_lock = threading.Lock()
        self.requests = Counter(
            "offerlab_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "offerlab_http_request_duration_seconds",
            "Seconds from a request's arrival to its answer",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "offerlab_decisions", "Decisions made, by action", ["action", "policy_version"], registry=self.registry
        )
        self.suppressions = Counter(
            "offerlab_suppressions", "Moments the guardrails suppressed", ["suppressed_by"], registry=self.registry
        )
        self.models = Gauge(
            "offerlab_model_info", "1 for each model served", ["policy_version", "role"], registry=self.registry
        )
        since = Gauge(
            "offerlab_decision_log_seconds_since_append",
            "Seconds since the decision log's last append (NaN before the first)",
            registry=self.registry,
        )
        since.set_function(self.seconds_since_append)
        if pending_lines is not None:
            pending = Gauge(
                "offerlab_decision_log_pending_lines",
                "Decision log lines waiting to be written and fsynced",
                registry=self.registry,
            )
            pending.set_function(pending_lines)
        if last_batch_seconds is not None:
            batch = Gauge(
                "offerlab_decision_log_last_batch_seconds",
                "Seconds the decision log's latest batch took to write and fsync",
                registry=self.registry,
            )
            batch.set_function(last_batch_seconds)

    def set_model(self, policy_version: str, role: str = "champion") -> None:
        """Mark ``policy_version`` as the model serving ``role``, replacing the one that held it."""
        with self._models_lock:
            for labels in [k for k in _label_sets(self.models) if k[1] == role]:
                self.models.remove(*labels)
            self.models.labels(policy_version=policy_version, role=role).set(1)

    def clear_model(self, role: str) -> None:
        """No model serves ``role`` any more (e.g. the shadow was switched off)."""
        with self._models_lock:
            for labels in [k for k in _label_sets(self.models) if k[1] == role]:
                self.models.remove(*labels)

    def note_decision(self, action: str, policy_version: str) -> None:
        """Count one decision."""
        self.decisions.labels(action=action, policy_version=policy_version).inc()

    def note_suppression(self, suppressed_by: str) -> None:
        """Count one suppressed moment."""
        self.suppressions.labels(suppressed_by=suppressed_by).inc()

    def note_append(self, at: float | None = None) -> None:
        """Record that the decision log was appended to (now, or at the monotonic time ``at``)."""
        self._last_append = self._now() if at is None else at

    def seconds_since_append(self) -> float:
        """Seconds since :meth:`note_append` last ran (NaN if never)."""
        return math.nan if self._last_append is None else self._now() - self._last_append

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


def _label_sets(gauge: Gauge) -> list[tuple[str, ...]]:
    """Return the label values of the series ``gauge`` holds now."""
    return [tuple(s.labels[n] for n in ("policy_version", "role")) for m in gauge.collect() for s in m.samples]


class RequestMetrics:
    """ASGI middleware: count every HTTP request by route, method and status, and time it.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    metrics
        Where to count.
    routes
        The paths counted under their own name even when answered before routing (e.g. a 401); a path no route
        matched and not in ``routes`` is counted as ``other``.
    """

    def __init__(self, app: ASGIApp, metrics: EndpointMetrics, routes: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass an HTTP request to the app, then count it by route, method and status and record its latency."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before starting a response

        async def recorded_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recorded_send)
        finally:
            matched = getattr(scope.get("route"), "path", None)  # set by the router when a route matched
            route = matched if isinstance(matched, str) else scope["path"] if scope["path"] in self.routes else "other"
            self.metrics.requests.labels(route=route, method=scope["method"], status=str(status)).inc()
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - started)
