"""Engine.IO sessions belong to the browser session that opened them.

A Socket.IO connection is authenticated by the cookie of its Engine.IO
handshake: python-socketio keeps the handshake's environ, and the connect
guard reads the session from it when the client later sends its CONNECT. So
whoever learns an Engine.IO sid can act on that session with requests of
their own, no cookie needed: send the CONNECT, read the events (polling
GETs), send in the user's name (POSTs), or take the session over with a
websocket upgrade. The ``Origin`` check does not stop that: requests from a
server carry no ``Origin``, and neither do ``<script src>`` loads.

Pages learned sids that way: python-engineio answers JSONP polling
(``?j=0``) with JavaScript that hands the handshake, sid included, to any
page that includes it as a script, and a page of a sibling origin (another
port, another subdomain) gets the user's ``SameSite=Lax`` cookie sent along.
:class:`SessionBinding` closes the whole class, not one parameter:

- JSONP is refused (any ``j`` parameter: 400), before Engine.IO sees it;
- every Engine.IO answer says ``X-Content-Type-Options: nosniff``, so no
  browser runs a ``text/plain`` polling answer as a script;
- a polling handshake records a digest of the session id inside its session
  cookie (``environ["realtime.session_binding"]``; python-socketio keeps
  that environ for exactly as long as the Engine.IO session lives), and every
  later request naming that sid (polling GET or POST, websocket upgrade) must
  carry a cookie with the same session id, or it is refused with 403.
  Unknown sids get the same answer, so a refusal tells nothing about the
  session. Websocket-only sessions make no later requests: any request naming
  one is refused.

The session id, not the cookie's bytes, is compared: Flask re-signs the cookie
with a new timestamp on responses (and with the new key during a rotation),
which changes the bytes but not the session. A login or logout gives the
browser a new session id; the sockets of the old one are ended by it anyway
(:func:`realtime.login_session`, :func:`realtime.logout_session`), and a
request still naming their sid is refused (the client connects again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import typing as t
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs

from flask.sessions import SecureCookieSessionInterface
from werkzeug.http import parse_cookie

from . import _wsgi, auth, ratelimit
from .sessions import is_valid_session_id

if t.TYPE_CHECKING:
    from flask import Flask

    from .state import RealtimeState

logger = logging.getLogger(__name__)

#: Where a polling handshake's environ keeps the digest of its session.
BINDING_KEY = "realtime.session_binding"
NOSNIFF = ("X-Content-Type-Options", "nosniff")

JSONP_REFUSED = (
    "400 BAD REQUEST",
    "JSONP polling is not served: it hands the session to any page that includes it as a script."
    " Use the Socket.IO client's default transports (XHR polling, websocket).",
)
#: One answer for an unknown sid and for a sid opened with another session cookie: no oracle.
NOT_YOUR_SESSION = ("403 FORBIDDEN", "This Engine.IO session was not opened by this client's session.")


def _digest(kind: bytes, value: str) -> bytes:
    return kind + hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def session_binding(app: Flask, environ: Mapping[str, t.Any]) -> bytes:
    """What identifies the client's session in this request: a digest of the session id in its cookie.

    A cookie that carries no valid session id (not signed by us, expired, a
    custom session interface) binds by the digest of its exact value, and a
    header that cannot be read at all by its own; no cookie at all is a
    value of its own.
    """
    interface = app.session_interface
    header = environ.get("HTTP_COOKIE") or ""
    try:
        value = parse_cookie(header).get(interface.get_cookie_name(app))
    except (UnicodeError, ValueError):
        return _digest(b"h", header)  # a header werkzeug cannot read (not UTF-8) binds by its exact value
    if value is None:
        return b"-"
    if isinstance(interface, SecureCookieSessionInterface):
        serializer = interface.get_signing_serializer(app)
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data = serializer.loads(value, max_age=max_age)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - any cookie Flask would not open binds by its exact value
            data = None
        sid = data.get(auth.SESSION_KEY) if isinstance(data, dict) else None
        if is_valid_session_id(sid):
            return _digest(b"s", t.cast(str, sid))
    return _digest(b"c", value)


def _with_nosniff(start_response: Callable[..., t.Any]) -> Callable[..., t.Any]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None) -> t.Any:
        return start_response(status, [*headers, NOSNIFF], exc_info)

    return start


class SessionBinding:
    """WSGI middleware in front of Engine.IO: no JSONP, ``nosniff``, and sids usable only by their session."""

    def __init__(self, wsgi_app: t.Any, app: Flask, server: t.Any, path: str) -> None:
        self.wsgi_app = _wsgi.direct_call(wsgi_app)
        self.app = app
        #: The python-socketio server: its ``environ`` holds each live Engine.IO session's handshake environ.
        self.server = server
        self.path = path
        self.trusted_proxies = int(app.config.get("REALTIME_TRUSTED_PROXIES", 0))

    def __call__(self, environ: dict[str, t.Any], start_response: Callable[..., t.Any]) -> t.Any:
        if not _wsgi.is_socketio_request(environ, self.path):
            return self.wsgi_app(environ, start_response)
        try:
            refusal = self._refusal(environ)
        except Exception as exc:  # noqa: BLE001 - never serve a request whose binding was not checked
            # The type only: the message of an error about a cookie may quote it.
            logger.error("Refused an Engine.IO request: checking its session failed (%s)", type(exc).__name__)
            refusal = NOT_YOUR_SESSION
        if refusal is not None:
            status, message = refusal
            body = json.dumps(message).encode()
            start_response(
                status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), NOSNIFF]
            )
            return [body]
        if _wsgi.is_websocket_upgrade(environ):
            # A websocket's answer is no document a page could load; and a wrapper here would live as long as
            # the socket (its reader keeps this call's frame).
            return self.wsgi_app(environ, start_response)
        return self.wsgi_app(environ, _with_nosniff(start_response))

    def _refusal(self, environ: dict[str, t.Any]) -> tuple[str, str] | None:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if "j" in query:
            logger.info("Refused a JSONP polling request from %s", self._client(environ))
            return JSONP_REFUSED
        method = environ.get("REQUEST_METHOD")
        if "sid" not in query:
            if method == "GET" and not _wsgi.is_websocket_upgrade(environ):
                environ[BINDING_KEY] = session_binding(self.app, environ)
            return None
        if method == "OPTIONS":
            return None  # a CORS preflight: sent without cookies, answered without touching the session
        handshake = self.server.environ.get(query["sid"][0])  # Engine.IO reads the first sid too
        bound = handshake.get(BINDING_KEY) if handshake is not None else None
        if not isinstance(bound, bytes):
            logger.info(
                "Refused an Engine.IO %s from %s: no such session, or one opened over a websocket",
                method,
                self._client(environ),
            )
            return NOT_YOUR_SESSION
        if not hmac.compare_digest(bound, session_binding(self.app, environ)):
            logger.warning(
                "Refused an Engine.IO %s from %s: its session cookie is not the one that opened the session"
                " (another client using a leaked session id, or a login/logout since)",
                method,
                self._client(environ),
            )
            return NOT_YOUR_SESSION
        return None

    def _client(self, environ: Mapping[str, t.Any]) -> str:
        """The client address as the rate limiter counts it (through the trusted proxies)."""
        return ratelimit.client_key(environ, self.trusted_proxies)


def init_app(app: Flask, state: RealtimeState) -> None:
    """Put :class:`SessionBinding` in front of every other check on Engine.IO requests."""
    binding = SessionBinding(app.wsgi_app, app, state.socketio.server, _wsgi.socketio_path(state.socketio))
    app.wsgi_app = _wsgi.direct_call(binding)  # type: ignore[method-assign]
