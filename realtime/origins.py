"""Which pages may open a socket: the Origin policy against cross-site WebSocket hijacking.

A browser attaches the session cookie to a WebSocket handshake (and to a
polling request) whoever's page started it, so without a check any website a
logged-in user visits could open an authenticated socket in their name.
Browsers also send an ``Origin`` header that page scripts cannot forge; the
policy here accepts a handshake only when that origin is the app's own or one
the operator listed in ``REALTIME_ALLOWED_ORIGINS``.

Engine.IO applies the policy to every request that carries an ``Origin``
(the handshake, each polling request, the websocket upgrade) and answers a
foreign one with ``400 Not an accepted origin.`` before any application code
runs. Requests without ``Origin`` come from non-browser clients (scripts,
native apps, servers), which can send any header they like, so an origin check
proves nothing about them; they are let through to the session check unless
``REALTIME_ALLOW_MISSING_ORIGIN`` is off, in which case the connect guard
refuses them.

Pure logic: the policy is a value built from the configuration, called with
the WSGI environ.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import AuthError, ConfigError

if t.TYPE_CHECKING:
    from flask import Flask

    from .state import RealtimeState

#: The refusal a socket without an ``Origin`` header gets when those are not allowed.
MISSING_ORIGIN = ("Origin header required", "missing_origin")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: object) -> str | None:
    """``scheme://host[:port]`` in lowercase without a default port, or ``None`` if it is not an origin.

    ``"null"`` (sandboxed frames, ``file:`` pages) is not an origin we can
    trust: any site can produce it.
    """
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _first(value: str) -> str:
    # Proxies append to these headers; the first entry is what the client used.
    return value.split(",")[0].strip()


def own_origins(environ: Mapping[str, t.Any], trust_forwarded: bool) -> set[str]:
    """The origins of the request itself: as received, and as the client saw it through a proxy.

    Behind a TLS-terminating proxy the app sees ``http`` and maybe an internal
    host; ``X-Forwarded-Proto``/``X-Forwarded-Host`` say what the browser used.
    """
    scheme = str(environ.get("wsgi.url_scheme") or "http")
    host = environ.get("HTTP_HOST")
    if not host:
        return set()
    origins = {normalize_origin(f"{scheme}://{host}")}
    forwarded_proto = environ.get("HTTP_X_FORWARDED_PROTO")
    forwarded_host = environ.get("HTTP_X_FORWARDED_HOST")
    if trust_forwarded and (forwarded_proto or forwarded_host):
        proto = _first(forwarded_proto) if forwarded_proto else scheme
        origins.add(normalize_origin(f"{proto}://{_first(forwarded_host) if forwarded_host else host}"))
    origins.discard(None)
    return t.cast(set[str], origins)


@dataclass(frozen=True)
class OriginPolicy:
    """Engine.IO's ``cors_allowed_origins`` callable: is this ``Origin`` allowed for this request?

    :param allowed: extra origins (normalized) accepted besides the app's own.
    :param trust_forwarded: also accept the origin named by ``X-Forwarded-Proto``
        and ``X-Forwarded-Host``. A web page cannot set these headers on a
        WebSocket handshake, and a cross-site request carrying them needs a
        CORS preflight, which this same check refuses; so trusting them lets
        no foreign page in, while a client that forges them could forge
        ``Origin`` too.
    :param allow_missing: let requests without ``Origin`` reach the session check.
    """

    allowed: frozenset[str] = frozenset()
    trust_forwarded: bool = True
    allow_missing: bool = True

    def __call__(self, origin: object, environ: Mapping[str, t.Any] | None = None) -> bool:
        normalized = normalize_origin(origin)
        if normalized is None:
            return False
        return normalized in self.allowed or normalized in own_origins(environ or {}, self.trust_forwarded)

    def check_missing(self, environ: Mapping[str, t.Any]) -> None:
        """Raise :class:`AuthError` for a request without ``Origin`` when those are not allowed."""
        if not self.allow_missing and not environ.get("HTTP_ORIGIN"):
            raise AuthError(*MISSING_ORIGIN)


def parse_allowed_origins(raw: object) -> frozenset[str]:
    """``REALTIME_ALLOWED_ORIGINS`` (comma-separated string or list) as normalized origins.

    ``*`` is refused: it would let every website open sockets that carry its
    visitors' session cookies.
    """
    if raw is None:
        return frozenset()
    items = raw.split(",") if isinstance(raw, str) else list(t.cast(t.Iterable[str], raw))
    origins = set()
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        if item == "*":
            raise ConfigError(
                "REALTIME_ALLOWED_ORIGINS='*' would let any website open a socket with its visitors' session"
                " cookie (cross-site WebSocket hijacking). List the origins of your own pages instead, e.g."
                " REALTIME_ALLOWED_ORIGINS=https://app.example.com,https://www.example.com"
            )
        normalized = normalize_origin(item)
        if normalized is None:
            raise ConfigError(
                f"REALTIME_ALLOWED_ORIGINS has {item!r}, which is not an origin. Write each one as"
                " scheme://host[:port], e.g. https://app.example.com (no path, no trailing text)."
            )
        origins.add(normalized)
    return frozenset(origins)


def policy_from_config(config: Mapping[str, t.Any]) -> OriginPolicy:
    return OriginPolicy(
        allowed=parse_allowed_origins(config.get("REALTIME_ALLOWED_ORIGINS")),
        trust_forwarded=bool(config.get("REALTIME_TRUST_FORWARDED_ORIGIN", True)),
        allow_missing=bool(config.get("REALTIME_ALLOW_MISSING_ORIGIN", True)),
    )


def check_server_origins(cors_allowed_origins: object) -> None:
    """Refuse a Socket.IO server built elsewhere that accepts every origin.

    ``"*"`` turns the check off; ``[]`` turns all CORS handling off,
    including the check. ``None`` (Engine.IO's same-origin default) and our
    :class:`OriginPolicy` are fine.
    """
    wildcard = cors_allowed_origins == "*" or (
        isinstance(cors_allowed_origins, (list, tuple, set)) and "*" in cors_allowed_origins
    )
    if wildcard or cors_allowed_origins == []:
        raise ConfigError(
            f"SocketIO(cors_allowed_origins={cors_allowed_origins!r}) accepts sockets from any website, which"
            " could then act with its visitors' session cookie. Remove that option and list extra origins in"
            " REALTIME_ALLOWED_ORIGINS instead."
        )


def init_app(app: Flask, state: RealtimeState) -> OriginPolicy:
    """Put the policy on the Engine.IO server and the missing-Origin gate before the session check.

    A ``SocketIO`` initialised before ``Realtime`` keeps its own
    ``cors_allowed_origins`` unless that is Engine.IO's same-origin default,
    which our policy replaces (same rule, plus the configured origins).
    """
    policy = policy_from_config(app.config)
    eio = state.socketio.server.eio
    current = eio.cors_allowed_origins
    if current is None:
        eio.cors_allowed_origins = policy
    elif current != policy:
        check_server_origins(current)
        if policy.allowed:
            raise ConfigError(
                "REALTIME_ALLOWED_ORIGINS is set, but the SocketIO server was created with its own"
                f" cors_allowed_origins={current!r}. Configure the allowed origins in one place: remove the"
                " SocketIO option, or unset REALTIME_ALLOWED_ORIGINS."
            )
    if not policy.allow_missing:
        state.gates.append(policy.check_missing)
    return policy
