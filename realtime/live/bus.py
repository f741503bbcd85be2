"""Redis: the Socket.IO client manager, the control channel and the readiness probe, built from the configuration.

All use the same URL and TLS options, so ``rediss://`` with a provider's
self-signed certificate is one switch (``REALTIME_REDIS_SSL_VERIFY=false``)
for everything that talks to Redis. Every Redis client of the library is
built here.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Callable, Mapping
from importlib.metadata import version

import redis
import socketio

from ..config import message_queue_url
from ..errors import ConfigError, RealtimeError
from .control import DEFAULT_CHANNEL, control_channel

logger = logging.getLogger(__name__)

#: Queue payloads are JSON from python-socketio 5.14 on (pickle before): every
#: process on one queue must be on this side of the change.
MIN_SOCKETIO = (5, 14)

#: Seconds a Redis command may take before it counts as failed, so a dead
#: Redis cannot hang a logout request.
REDIS_TIMEOUT = 5.0

_SCHEMES = ("redis://", "rediss://")


def redis_options(config: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Keyword arguments for ``redis.Redis.from_url`` beyond the URL itself."""
    options: dict[str, t.Any] = {}
    url = message_queue_url(config) or ""
    if url.startswith("rediss://"):
        if config.get("REALTIME_REDIS_CA_CERTS"):
            options["ssl_ca_certs"] = config["REALTIME_REDIS_CA_CERTS"]
        if not config.get("REALTIME_REDIS_SSL_VERIFY", True):
            # Encrypted but unauthenticated, as the provider's self-signed
            # certificate allows; redis-py then skips the hostname check too.
            options["ssl_cert_reqs"] = None
    return options


def queue_settings(config: Mapping[str, t.Any]) -> tuple[str, str, dict[str, t.Any]] | None:
    """``(url, channel, redis options)`` of the message queue, or ``None`` without one.

    Raises :class:`ConfigError` for a queue the live-session machinery cannot
    use: revocations must reach every instance, and they travel over Redis.
    """
    url = message_queue_url(config)
    if not url:
        return None
    if not url.startswith(_SCHEMES):
        scheme = url.split(":", 1)[0]
        raise ConfigError(
            f"The message queue URL uses {scheme!r}, but logout and revocation reach other instances through Redis"
            " pub/sub. Set REDIS_URL (or REALTIME_MESSAGE_QUEUE) to a redis:// or rediss:// URL."
        )
    check_socketio_version()
    return url, config.get("REALTIME_CHANNEL") or DEFAULT_CHANNEL, redis_options(config)


def check_socketio_version(installed: str | None = None) -> None:
    installed = installed or version("python-socketio")
    parts = tuple(int(p) for p in installed.split(".")[:2] if p.isdigit())
    if parts < MIN_SOCKETIO:
        raise ConfigError(
            f"python-socketio {installed} sends pickled queue messages; every process sharing the message queue needs"
            f" python-socketio >= {'.'.join(map(str, MIN_SOCKETIO))} (JSON). Upgrade it everywhere."
        )


def client_manager(
    config: Mapping[str, t.Any],
    *,
    write_only: bool = False,
    manager_class: type[socketio.RedisManager] | None = None,
) -> socketio.RedisManager | None:
    """The Socket.IO client manager for the configured queue (``None`` without one).

    Built here rather than by ``SocketIO(message_queue=...)``, which can pass
    neither the TLS options nor a channel to a write-only emitter.
    ``manager_class`` is ``socketio.RedisManager`` or a subclass of it.
    """
    settings = queue_settings(config)
    if settings is None:
        return None
    url, channel, options = settings
    return (manager_class or socketio.RedisManager)(url, channel=channel, write_only=write_only, redis_options=options)


def connect_redis(url: str, options: Mapping[str, t.Any]) -> redis.Redis:
    """A Redis client that gives up after :data:`REDIS_TIMEOUT` and pings idle pub/sub connections."""
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        health_check_interval=30,
        **options,
    )


class QueueUnavailable(RealtimeError):
    """Redis did not answer; the message says how, never the URL (it may hold a password)."""


def ping_probe(url: str, options: Mapping[str, t.Any], timeout: float) -> Callable[[], None]:
    """A probe that sends PING to the Redis at ``url`` and raises :class:`QueueUnavailable` unless it answers.

    The ``/readyz`` check of the message queue: its own connection with a
    short timeout, so a slow Redis shows up as failing instead of stalling
    the probe.
    """
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, **options)

    def probe() -> None:
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise QueueUnavailable(f"Redis did not answer PING ({type(exc).__name__})") from None

    return probe


class ControlBus:
    """The control channel on Redis: publish from any process, listen in each instance."""

    #: Longest pause between attempts to resubscribe after Redis went away.
    MAX_BACKOFF = 10.0

    def __init__(self, url: str, channel: str, options: Mapping[str, t.Any]) -> None:
        self.channel = control_channel(channel)
        self.redis = connect_redis(url, options)
        self._stopped = False

    def publish(self, message: str) -> int:
        """Send ``message``; return how many processes heard it. Raises ``redis.RedisError``."""
        return t.cast(int, self.redis.publish(self.channel, message))

    def listen(
        self,
        handle: Callable[[bytes], None],
        *,
        sleep: Callable[[float], None],
        on_subscribed: Callable[[bool], None],
    ) -> None:
        """Feed every message to ``handle`` until :meth:`stop`, resubscribing after failures.

        ``on_subscribed(again)`` runs after each subscription; ``again`` is
        true after a failure, when messages may have been missed.
        ``sleep`` is the async mode's sleep (a green one under eventlet).
        """
        backoff = 0.5
        again = False
        while not self._stopped:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                on_subscribed(again)
                backoff = 0.5
                while not self._stopped:
                    # A timeout, so stop() is noticed within a second.
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        try:
                            handle(message["data"])
                        except Exception:  # noqa: BLE001 - one bad message must not stop the listener
                            logger.exception("Handling a control message failed")
            except (redis.RedisError, OSError) as exc:
                if self._stopped:
                    break
                logger.warning(
                    "Lost the control channel %s (%s); resubscribing in %.1f s. Revocations published meanwhile"
                    " are caught by the next revalidation.",
                    self.channel,
                    type(exc).__name__,
                    backoff,
                )
                again = True
                sleep(backoff)
                backoff = min(backoff * 2, self.MAX_BACKOFF)
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        self.stop()
        self.redis.close()
