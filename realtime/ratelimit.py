"""Refused-connect rate limiting per client address, so guessing cookies costs time.

Every connect attempt takes a token from its client's bucket before anything
else is checked, and gives it back only if the session turns out valid; a
bucket refills at ``REALTIME_RATE_LIMIT`` tokens per
``REALTIME_RATE_LIMIT_WINDOW`` seconds. A client whose bucket is empty is
refused with "Too many attempts" before its cookie is looked at, so a flood
of guesses costs the database nothing. Because the token is taken before the
store read, attempts sent all at once cannot get more reads past the limit
than it allows; an attempt that finds the remaining tokens held by attempts
still being checked waits for them (they may come back) instead of being
refused at once.

Valid sessions keep their token, so a reconnect storm after a deploy (every
browser of an office behind one address reconnecting at once) is never
refused. Refusals the server causes (session store unavailable) cost a token
like a guess does: otherwise an attacker who slows the database down would
switch the limit off. Clients retrying through an outage wait at most one
token's refill time when it ends.

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

from flask import g

from . import signals
from .errors import AuthError, ConfigError

if t.TYPE_CHECKING:
    from flask import Flask

    from .state import RealtimeState

logger = logging.getLogger(__name__)

#: What a rate-limited client sees.
RATE_LIMITED = ("Too many attempts", "rate_limited")

#: Refusal reasons that keep the attempt's token: the ones a guessing client
#: produces, and a store that fails to answer (which an attacker can cause).
#: Other outcomes (accepted, or refused by the app after the session was found
#: valid) give it back; a "rate_limited" attempt never had one.
COUNTED_REASONS = frozenset({"no_cookie", "unknown_session", "anonymous", "missing_origin", "unavailable"})

#: Clients remembered at most (about 200 bytes each).
MAX_CLIENTS = 100_000

#: Seconds an attempt waits for tokens held by attempts still being checked.
#: Those end within the store's deadline (ARANGO_TIMEOUT) plus the connect hooks.
HELD_TOKEN_WAIT = 5.0

#: Where the gate leaves the key of the token it took, for the end of the check (``flask.g``, one per connect).
TOKEN_KEY = "_realtime_rate_token"


@dataclass
class _Bucket:
    tokens: float
    updated: float
    #: Whether the "over the limit" warning was logged for this episode.
    warned: bool = False
    #: Tokens taken by attempts whose check has not ended yet.
    held: int = 0


class RefusalLimiter:
    """Token buckets of connect attempts, keyed by client address.

    :param limit: bucket size, i.e. refusals allowed in a burst; 0 disables limiting.
    :param window: seconds for an empty bucket to refill completely.
    :param max_clients: buckets kept at most.
    :param max_wait: seconds :meth:`take` waits for tokens held by other attempts.
    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_clients: int = MAX_CLIENTS,
        max_wait: float = HELD_TOKEN_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("limit must be >= 0 and window > 0")
        self.limit = limit
        self.window = window
        self.rate = limit / window
        self.max_clients = max_clients
        self.max_wait = max_wait
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._changed = threading.Condition(threading.Lock())

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _level(self, bucket: _Bucket, now: float) -> float:
        return min(float(self.limit), bucket.tokens + (now - bucket.updated) * self.rate)

    def take(self, key: str) -> bool:
        """Take a token for an attempt about to be checked; False when ``key`` has none left.

        When every token left is held by an attempt still being checked, wait
        (up to ``max_wait``) for one of them to end: a valid session gives
        its token back.
        """
        if not self.enabled:
            return True
        waited_until = None
        with self._changed:
            while True:
                now = self.clock()
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = _Bucket(float(self.limit), now)
                    self._forget_oldest()
                if self._level(bucket, now) - bucket.held >= 1:
                    bucket.held += 1
                    return True
                if bucket.held == 0:
                    return False
                waited_until = waited_until or time.monotonic() + self.max_wait
                left = waited_until - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)

    def release(self, key: str, *, spent: bool) -> bool:
        """End an attempt that took a token: ``spent`` (a refusal) keeps it, else it comes back.

        Return True when this refusal emptied the bucket (the first time in this episode).
        """
        if not self.enabled:
            return False
        with self._changed:
            self._changed.notify_all()
            bucket = self._buckets.get(key)
            if bucket is None:
                return False  # forgotten while the table was full
            bucket.held = max(0, bucket.held - 1)
            now = self.clock()
            level = self._level(bucket, now)
            if not spent:
                if level >= self.limit and not bucket.held:
                    del self._buckets[key]  # refilled and idle: the same as never seen
                return False
            if level >= self.limit:
                bucket.warned = False
            bucket.tokens, bucket.updated = max(0.0, level - 1), now
            newly_limited = bucket.tokens < 1 and not bucket.warned
            bucket.warned = bucket.warned or newly_limited
            self._buckets.move_to_end(key)  # most recently refused last
            return newly_limited

    def spend(self, key: str) -> bool:
        """Take a token for good (nothing is checked after); False when ``key`` has none left."""
        if not self.take(key):
            return False
        self.release(key, spent=True)
        return True

    def _forget_oldest(self) -> None:
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

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
        """Take the attempt's token before any store request; refuse when the client's bucket is empty."""
        key = self.key(environ)
        if not self.limiter.take(key):
            raise AuthError(*RATE_LIMITED)
        setattr(g, TOKEN_KEY, key)

    def on_checked(self, sender: Flask, outcome: str, reason: str, **kwargs: t.Any) -> None:
        """``connect_checked`` receiver: the attempt's token is spent by a counted refusal, else given back."""
        key = g.pop(TOKEN_KEY, None)
        if key is None:
            return
        if self.limiter.release(key, spent=outcome != "accepted" and reason in COUNTED_REASONS):
            logger.warning(
                "Client %s reached the refused-connect limit (%d per %g s); its sockets are refused early"
                " until it slows down.",
                key,
                self.limiter.limit,
                self.limiter.window,
            )


def init_app(app: Flask, state: RealtimeState) -> RateLimit:
    """Take a token before every other check of a socket; give it back when the session is valid."""
    limit = RateLimit.from_config(app.config)
    app.extensions["realtime.ratelimit"] = limit
    if limit.limiter.enabled:
        # First: every refusal of a later gate (e.g. a missing Origin) costs the token taken here.
        state.gates.insert(0, limit.gate)
        signals.connect_checked.connect(limit.on_checked, sender=app)
    return limit
