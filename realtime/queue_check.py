"""The message queue's ``/readyz`` check: Redis answers PING within the health timeout.

Registered only when a message queue is configured (``REALTIME_MESSAGE_QUEUE``
or ``REDIS_URL``). Critical: without the queue, messages and revocations stop
reaching the other instances. The check uses its own connection with a short
timeout, so a slow Redis shows up as failing instead of stalling the probe.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping

import redis
from flask import Flask

from . import health
from .config import message_queue_url
from .errors import RealtimeError
from .live.bus import redis_options

#: The check's name in the ``/readyz`` answer.
CHECK_NAME = "message_queue"


class QueueUnavailable(RealtimeError):
    """Redis did not answer; the message says how, never the URL (it may hold a password)."""


def ping_probe(url: str, options: Mapping[str, t.Any], timeout: float) -> Callable[[], None]:
    """A probe that sends PING to the Redis at ``url`` and raises :class:`QueueUnavailable` unless it answers."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, **options)

    def probe() -> None:
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise QueueUnavailable(f"Redis did not answer PING ({type(exc).__name__})") from None

    return probe


def init_app(app: Flask) -> health.Check | None:
    """Add the ``message_queue`` check to ``app``'s readiness when a queue is configured."""
    config = app.config
    url = message_queue_url(config)
    if not url:
        return None
    timeout = float(config["REALTIME_HEALTH_TIMEOUT"])
    return health.add_check(app, CHECK_NAME, ping_probe(url, redis_options(config), timeout))
