"""Prometheus metrics for one app's sockets and sessions, fed by :mod:`realtime.signals`.

Each app has its own ``CollectorRegistry`` (``app.extensions["realtime.metrics"]``),
so several apps in one process (tests, an app factory called twice) never
collide on metric names. The registry is served in the Prometheus text format
at ``REALTIME_METRICS_PATH`` (default ``/metrics``); an empty path turns the
endpoint off while the counters keep counting, for apps that export them their
own way. With ``REALTIME_METRICS_TOKEN`` set, a scrape must send
``Authorization: Bearer <token>``.

The numbers describe this process only: gunicorn runs one worker (``-w 1``), and
each instance is scraped on its own.
"""

from __future__ import annotations

import hmac
import logging
import typing as t

from flask import Flask, Response, abort, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from . import signals
from .connections import Connections

if t.TYPE_CHECKING:
    from .state import RealtimeState

logger = logging.getLogger(__name__)

#: Flask endpoint of the metrics view (exempt from anonymous sessions).
ENDPOINT = "realtime_metrics"

#: Seconds: the guard normally answers in a few milliseconds (one indexed
#: read); the top buckets show a database nearing ARANGO_TIMEOUT.
AUTH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    """The metrics of one app, in their own registry."""

    def __init__(self, connections: Connections) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        # What every Prometheus client library exports by default (memory,
        # CPU, open files, GC), so a dashboard sees the worker's health too.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

        self.sockets_connected = Gauge(
            "realtime_sockets_connected", "Authenticated sockets connected to this process.", registry=registry
        )
        self.sockets_connected.set_function(lambda: len(connections))
        self.connects = Counter(
            "realtime_socket_connects",
            "Socket connect attempts by outcome (accepted, refused) and reason (the refusal code; ok when accepted).",
            ["outcome", "reason"],
            registry=registry,
        )
        self.auth_seconds = Histogram(
            "realtime_auth_seconds",
            "Seconds the connect guard took to accept or refuse a socket, including the session store read.",
            buckets=AUTH_BUCKETS,
            registry=registry,
        )
        self.disconnects = Counter(
            "realtime_socket_disconnects",
            "Authenticated sockets that left, by Socket.IO disconnect reason.",
            ["reason"],
            registry=registry,
        )
        self.store_errors = Counter(
            "realtime_store_errors",
            "Session store requests that failed, by operation (connect, http_session, ...).",
            ["operation"],
            registry=registry,
        )
        self.sessions_revoked = Counter(
            "realtime_sessions_revoked",
            "Session records ended by the server, by reason (logout, revoked, expired, ...).",
            ["reason"],
            registry=registry,
        )
        self.control_dropped = Counter(
            "realtime_control_messages_dropped",
            "Control channel messages dropped, by reason (unsigned, bad_signature, malformed, stale, replayed).",
            ["reason"],
            registry=registry,
        )

    # -- signal receivers (sender: the app) ---------------------------------

    def on_connect_checked(self, sender: Flask, outcome: str, reason: str, seconds: float, **kwargs: t.Any) -> None:
        self.connects.labels(outcome, reason).inc()
        self.auth_seconds.observe(seconds)

    def on_disconnected(self, sender: Flask, reason: t.Any = None, **kwargs: t.Any) -> None:
        self.disconnects.labels(str(reason or "unknown")).inc()

    def on_store_failed(self, sender: Flask, operation: str = "unknown", **kwargs: t.Any) -> None:
        self.store_errors.labels(operation).inc()

    def on_sessions_ended(
        self, sender: Flask, sids: t.Sequence[str] = (), reason: str = "revoked", **kwargs: t.Any
    ) -> None:
        if sids:
            self.sessions_revoked.labels(reason).inc(len(sids))

    def on_control_message_dropped(self, sender: Flask, reason: str = "unknown", **kwargs: t.Any) -> None:
        self.control_dropped.labels(reason).inc()

    def connect_signals(self, app: Flask) -> None:
        # blinker holds bound methods weakly; the app keeps ``self`` alive.
        signals.connect_checked.connect(self.on_connect_checked, sender=app)
        signals.socket_disconnected.connect(self.on_disconnected, sender=app)
        signals.store_failed.connect(self.on_store_failed, sender=app)
        signals.sessions_ended.connect(self.on_sessions_ended, sender=app)
        signals.control_message_dropped.connect(self.on_control_message_dropped, sender=app)

    # -- exposition ----------------------------------------------------------

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def bearer_token_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time compare)."""
    scheme, _, value = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def get_metrics(app: Flask) -> Metrics:
    return app.extensions["realtime.metrics"]


def init_app(app: Flask, state: RealtimeState) -> Metrics:
    """Count ``app``'s sockets and sessions; serve them at ``REALTIME_METRICS_PATH`` unless it is empty."""
    metrics = Metrics(state.connections)
    app.extensions["realtime.metrics"] = metrics
    metrics.connect_signals(app)

    path = str(app.config["REALTIME_METRICS_PATH"] or "").strip()
    if not path:
        return metrics
    if not path.startswith("/"):
        path = "/" + path
    token = str(app.config["REALTIME_METRICS_TOKEN"] or "")

    warned = []

    def metrics_view() -> Response:
        if token and not bearer_token_matches(request.headers.get("Authorization"), token):
            abort(401)
        if not token and not warned:
            # Said at the first scrape, not at startup: every CLI command starts the app too.
            warned.append(True)
            logger.warning("Metrics at %s are served to anyone; set REALTIME_METRICS_TOKEN to require a token.", path)
        return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    app.add_url_rule(path, ENDPOINT, metrics_view, methods=["GET"])
    state.exempt_endpoints.add(ENDPOINT)
    return metrics
