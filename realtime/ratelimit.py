"""Refused-connect rate limiting per client address, so guessing cookies costs time.

Every refused socket (no valid cookie, unknown session, anonymous session)
takes a token from its client's bucket; a bucket refills at
``REALTIME_RATE_LIMIT`` tokens per ``REALTIME_RATE_LIMIT_WINDOW`` seconds. A
client whose bucket is empty is refused with "Too many attempts" before its
cookie is looked at, so a flood of guesses costs the database nothing.

Valid sessions never take a token, so a reconnect storm after a deploy (every
browser of an office behind one address reconnecting at once) is never
slowed. Refusals the server causes (session store unavailable) take none
either: clients retrying through an outage must not be locked out when it
ends. The check happens before the outcome of concurrent attempts is known,
so a client can exceed the limit by the number of attempts it has in flight.

Buckets live in this process's memory: each instance limits on its own, and
the count restarts with the process. The table is bounded; when it is full the
least recently refused clients are forgotten first.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import typing as t
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import request

from . import signals
from .errors import AuthError, ConfigError

if t.TYPE_CHECKING:
    from flask import Flask

    from .extension import RealtimeState

logger = logging.getLogger(__name__)

#: What a rate-limited client sees.
RATE_LIMITED = ("Too many attempts", "rate_limited")

#: Refusal reasons that cost a token: the ones a guessing client produces.
#: "unavailable" is the server's fault, "rate_limited" costs nothing to serve.
COUNTED_REASONS = frozenset({"no_cookie", "unknown_session", "anonymous", "missing_origin"})

#: Clients remembered at most (about 200 bytes each).
MAX_CLIENTS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float
    #: Whether the "over the limit" warning was logged for this episode.
    warned: bool = False


class RefusalLimiter:
    """Token buckets of refusals, keyed by client address.

    :param limit: bucket size, i.e. refusals allowed in a burst; 0 disables limiting.
    :param window: seconds for an empty bucket to refill completely.
    :param max_clients: buckets kept at most.
    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("limit must be >= 0 and window > 0")
        self.limit = limit
        self.window = window
        self.rate = limit / window
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _level(self, bucket: _Bucket, now: float) -> float:
        return min(float(self.limit), bucket.tokens + (now - bucket.updated) * self.rate)

    def allows(self, key: str) -> bool:
        """Whether ``key`` may try to connect now (costs nothing)."""
        if not self.enabled:
            return True
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return True
            level = self._level(bucket, self.clock())
            if level >= self.limit:
                # Refilled: the same as never seen. Forget it to keep the table small.
                del self._buckets[key]
            return level >= 1

    def record_refusal(self, key: str) -> bool:
        """Take one token from ``key``'s bucket; return True when this emptied it (first time)."""
        if not self.enabled:
            return False
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                bucket = _Bucket(float(self.limit), now)
            level = self._level(bucket, now)
            bucket.tokens = max(0.0, level - 1)
            bucket.updated = now
            if level >= self.limit:
                bucket.warned = False
            newly_limited = bucket.tokens < 1 and not bucket.warned
            bucket.warned = bucket.warned or newly_limited
            self._buckets[key] = bucket  # most recent last
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return newly_limited

    def __len__(self) -> int:
        return len(self._buckets)


def client_key(environ: Mapping[str, t.Any], trusted_proxies: int = 0) -> str:
    """The address a refusal is counted against.

    With ``trusted_proxies`` = N > 0 the N-th ``X-Forwarded-For`` entry from
    the right is used: the address the outermost proxy we trust saw. Entries
    further left were written by the client and prove nothing. IPv6 clients
    are grouped by /64, the block one subscriber usually gets.
    """
    address = str(environ.get("REMOTE_ADDR") or "")
    if trusted_proxies > 0:
        forwarded = [a.strip() for a in str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",") if a.strip()]
        if len(forwarded) >= trusted_proxies:
            address = forwarded[-trusted_proxies]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimit:
    """The limiter wired to one app: a gate before the session check, a counter of refusals."""

    def __init__(self, limiter: RefusalLimiter, trusted_proxies: int) -> None:
        self.limiter = limiter
        self.trusted_proxies = trusted_proxies
        self._warned_untrusted_forwarding = False

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> RateLimit:
        limit, window = int(config["REALTIME_RATE_LIMIT"]), float(config["REALTIME_RATE_LIMIT_WINDOW"])
        proxies = int(config["REALTIME_TRUSTED_PROXIES"])
        if limit < 0 or window <= 0 or proxies < 0:
            raise ConfigError(
                f"REALTIME_RATE_LIMIT={limit}, REALTIME_RATE_LIMIT_WINDOW={window:g},"
                f" REALTIME_TRUSTED_PROXIES={proxies} cannot work: the limit and the proxy count must be 0 or more"
                " (limit 0 turns limiting off), the window more than 0 seconds."
            )
        return cls(RefusalLimiter(limit, window), proxies)

    def key(self, environ: Mapping[str, t.Any]) -> str:
        if not self.trusted_proxies and environ.get("HTTP_X_FORWARDED_FOR") and not self._warned_untrusted_forwarding:
            self._warned_untrusted_forwarding = True
            logger.warning(
                "Requests carry X-Forwarded-For but REALTIME_TRUSTED_PROXIES=0, so refused sockets are counted"
                " against the proxy's address and all its clients share one limit. Behind a proxy that appends"
                " the client address (Heroku's router does), set REALTIME_TRUSTED_PROXIES to the number of"
                " such proxies."
            )
        return client_key(environ, self.trusted_proxies)

    def gate(self, environ: Mapping[str, t.Any]) -> None:
        """Refuse before any store request when the client's bucket is empty."""
        if not self.limiter.allows(self.key(environ)):
            raise AuthError(*RATE_LIMITED)

    def on_refused(self, sender: Flask, reason: str | None = None, **kwargs: t.Any) -> None:
        """``socket_refused`` receiver: sent inside the handshake's request context."""
        if reason in COUNTED_REASONS:
            self.count_refusal(request.environ)

    def count_refusal(self, environ: Mapping[str, t.Any]) -> None:
        key = self.key(environ)
        if self.limiter.record_refusal(key):
            logger.warning(
                "Client %s reached the refused-connect limit (%d per %g s); its sockets are refused early"
                " until it slows down.",
                key,
                self.limiter.limit,
                self.limiter.window,
            )


def init_app(app: Flask, state: RealtimeState) -> RateLimit:
    """Gate sockets of over-limit clients and count refusals (a ``socket_refused`` receiver)."""
    limit = RateLimit.from_config(app.config)
    app.extensions["realtime.ratelimit"] = limit
    if limit.limiter.enabled:
        state.gates.append(limit.gate)
        signals.socket_refused.connect(limit.on_refused, sender=app)
    return limit
