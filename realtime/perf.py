"""Performance options: the same behaviour for less memory and CPU per socket.

Each option is a production-safe change that :func:`install` applies when its
configuration key is on (all are on by default). None of them replaces code
inside a dependency: they use the extension points Flask, WSGI and
Flask-SocketIO offer. Measured effects are in README "Performance"; the
profile behind them is in ``bench/`` and the project notes.

``REALTIME_WEBSOCKET_COMPRESSION`` (default off)
    eventlet accepts every ``permessage-deflate`` offer (all browsers make
    one) and then keeps a zlib compressor per connection, about 90 KiB
    resident, and compresses every outgoing frame separately for each
    recipient. :class:`RefuseWebSocketCompression` removes that offer from
    Socket.IO upgrade requests, so frames travel uncompressed, as with node's
    socket.io server, whose default is the same. RFC 7692 makes the extension
    optional; clients fall back without noticing.

``REALTIME_SHARED_SOCKET_INPUT`` (default on; eventlet only)
    Under gunicorn, python-engineio's middleware defines a new class for
    every request, to hand eventlet's websocket code the connection's socket
    as ``environ["eventlet.input"]``; each websocket's environ keeps that
    class, its methods and their caches alive: about 2.5 KiB per socket.
    :class:`ShareSocketInput` hands the socket over in an instance of one
    shared class (:class:`SocketInput`) for Socket.IO websocket upgrades, so
    engineio has nothing to add. It moves ``environ["gunicorn.socket"]``
    aside for the few calls in between (engineio keys its class on it), and
    :func:`restore_gunicorn_socket` puts it back before the websocket starts,
    so handlers see the same environ.

``REALTIME_SHARED_ENVIRON`` (default on)
    Flask-SocketIO's WSGI middleware copies every request's environ to add
    ``environ["flask.app"]``. For a websocket both dicts then live as long as
    the socket: the server's (its request handler holds it) and the copy
    (python-socketio keeps it as the socket's environ, which handlers see as
    ``request.environ``). :class:`SocketIOMiddleware` is the same middleware
    adding the key to the environ it is given, as WSGI lets a middleware do
    and Flask and Werkzeug do themselves. It takes Flask-SocketIO's place
    only while nothing has wrapped it yet (:func:`share_environ`);
    otherwise it leaves it alone and logs why.

``REALTIME_REUSE_SOCKET_SESSION`` (default on)
    Flask opens the session for every request context, and Flask-SocketIO
    builds one per event, so the signed cookie is HMAC-verified on every
    event, only for Flask-SocketIO to replace the result with its managed
    copy (``environ["saved_session"]``, ``manage_session=True``, which
    ``realtime`` enforces). :class:`SocketSessionInterface` returns that copy
    directly. It also keeps the cookie's signing serializer while the keys
    stay the same, where Flask builds a new one (and itsdangerous test-encodes
    an empty dict with it) for every request that reads a cookie. HTTP
    requests, the connect event and the cookie format are otherwise untouched.

``REALTIME_LAZY_URL_ADAPTER`` (default on)
    Every event's request context also binds the URL map to the handshake
    environ and matches ``/socket.io/`` against the app's routes, which always
    ends in the same ``NotFound``. :class:`LazySocketURLAdapters` remembers
    that outcome and builds the real adapter only when a handler needs it
    (``url_for``), so ``url_for`` keeps working without ``SERVER_NAME``.

``REALTIME_RELEASE_ROUTING_TRACEBACKS`` (default on)
    Flask keeps the ``NotFound`` that routing ``/socket.io/`` raises in
    ``request.routing_exception``; its traceback holds the frame that caught
    it, and that frame holds the request context, which holds the request:
    a reference cycle of about 50 objects for every Socket.IO request context
    (a connect, a disconnect, each event of a Flask-SocketIO handler), which
    only the cyclic garbage collector can free, after it has walked them
    through its generations. :class:`RoutingTracebackRelease`, a
    ``teardown_request`` function, drops that traceback when the context
    ends, so reference counting frees the context at once. Nothing reads it
    after teardown; HTTP requests are left alone.

``REALTIME_SESSION_LOOKUP_IN_TASK`` (default on)
    Engine.IO runs the connect handler on the greenlet that then reads the
    socket for as long as it lives. The session lookup (python-arango, the
    HTTP exchange) is the deepest call chain a socket ever makes, and the
    interpreter stack pages it touches stay resident with that greenlet:
    about 4 KiB per idle socket. :func:`call_in_task` runs the lookup in a
    short-lived background task instead and waits for it, for about 0.1 ms
    more CPU per connect (3%, measured side by side). The decision, the
    refusal reasons and the single database request are unchanged.

``REALTIME_GC_FREEZE`` (default on; applied by the gunicorn hook in ``gunicorn.conf.py``)
    Python's cyclic garbage collector periodically walks every tracked
    object, including the hundreds of thousands that importing Flask,
    python-arango and the rest creates once and keeps for the life of the
    process. Under fan-out, which allocates for every recipient, those walks
    measured about a sixth of the CPU per delivered message.
    :func:`freeze_startup_heap` collects once and then moves everything alive
    at that moment into the permanent generation (``gc.freeze()``, the
    standard library's tool for this), once the worker has loaded the app and
    before it serves. Objects created later are collected as before; startup
    objects that become garbage later are not reclaimed, which is why it
    runs only after start-up.

``REALTIME_REGISTRY_ROOMS`` (default on; :mod:`realtime.rooms`)
    Every socket is addressable as ``user:<uid>`` and ``session:<id>``.
    python-socketio would keep a ``bidict`` per such room (about 0.5 KiB per
    socket and room when sessions and users have a socket each), and its
    disconnect scans every room. The server's client manager answers for
    those two kinds of room from the registry of live sockets instead.

Independent of the options, this project's WSGI middlewares are installed
as functions (:func:`direct_call`): a websocket's reader greenlet keeps the
whole call chain of its upgrade request for the socket's life, and each call
that goes through an object's ``__call__`` is a C-level call whose stack
slice the greenlet saves, about 0.8 KiB per socket each.

Not done here, because only an upstream change can do it safely: running the
ping of each connection from a hub timer instead of a greenlet (engineio),
fewer wake-ups per broadcast recipient and framing a broadcast once
(engineio/eventlet).
"""

from __future__ import annotations

import gc
import logging
import typing as t
from collections.abc import Callable, Mapping

import flask_socketio
import socketio as python_socketio
from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import NotFound

from ._wsgi import (  # noqa: F401 - the plumbing stays reachable as realtime.perf.X
    SAVED_SESSION_KEY,
    WSGIApp,
    direct_call,
    is_socketio_request,
    is_websocket_upgrade,
    socketio_path,
)

if t.TYPE_CHECKING:
    from flask import Request
    from flask_socketio import SocketIO
    from werkzeug.routing import MapAdapter

logger = logging.getLogger(__name__)

#: The keys :func:`install` reads, with their defaults (mirrored in config.DEFAULTS).
DEFAULTS: dict[str, bool] = {
    "REALTIME_WEBSOCKET_COMPRESSION": False,
    "REALTIME_SHARED_SOCKET_INPUT": True,
    "REALTIME_SHARED_ENVIRON": True,
    "REALTIME_REUSE_SOCKET_SESSION": True,
    "REALTIME_LAZY_URL_ADAPTER": True,
    "REALTIME_RELEASE_ROUTING_TRACEBACKS": True,
    "REALTIME_SESSION_LOOKUP_IN_TASK": True,
    "REALTIME_GC_FREEZE": True,
}


def install(app: Flask, socketio: SocketIO, config: Mapping[str, t.Any]) -> list[str]:
    """Apply the options ``config`` turns on to ``app``; return their names.

    Call after ``socketio.init_app(app)``, so the compression middleware sits
    in front of Flask-SocketIO's; call :func:`share_environ` before
    any other middleware wraps Flask-SocketIO's (``install`` calls it too,
    which is enough when nothing has).
    """
    path = socketio_path(socketio)
    installed = []
    if share_environ(app, socketio, config):
        installed.append("REALTIME_SHARED_ENVIRON")
    if not config.get("REALTIME_WEBSOCKET_COMPRESSION", DEFAULTS["REALTIME_WEBSOCKET_COMPRESSION"]):
        app.wsgi_app = direct_call(RefuseWebSocketCompression(app.wsgi_app, path))  # type: ignore[method-assign]
        installed.append("REALTIME_WEBSOCKET_COMPRESSION=off")
    if config.get("REALTIME_SHARED_SOCKET_INPUT", DEFAULTS["REALTIME_SHARED_SOCKET_INPUT"]):
        # Only eventlet's websocket code reads environ["eventlet.input"].
        if socketio.async_mode == "eventlet":
            app.wsgi_app = direct_call(ShareSocketInput(app.wsgi_app, path))  # type: ignore[method-assign]
            installed.append("REALTIME_SHARED_SOCKET_INPUT")
    if config.get("REALTIME_REUSE_SOCKET_SESSION", DEFAULTS["REALTIME_REUSE_SOCKET_SESSION"]):
        if install_socket_session_interface(app):
            installed.append("REALTIME_REUSE_SOCKET_SESSION")
    if config.get("REALTIME_LAZY_URL_ADAPTER", DEFAULTS["REALTIME_LAZY_URL_ADAPTER"]):
        if install_lazy_url_adapters(app, path):
            installed.append("REALTIME_LAZY_URL_ADAPTER")
    if config.get("REALTIME_RELEASE_ROUTING_TRACEBACKS", DEFAULTS["REALTIME_RELEASE_ROUTING_TRACEBACKS"]):
        install_routing_traceback_release(app, path)
        installed.append("REALTIME_RELEASE_ROUTING_TRACEBACKS")
    logger.debug("Performance options in use: %s", ", ".join(installed) or "none")
    return installed


# -- the handshake environ --------------------------------------------------------


class SocketIOMiddleware(python_socketio.WSGIApp):
    """Flask-SocketIO's WSGI middleware, adding ``flask.app`` to the environ it is given instead of to a copy.

    See ``REALTIME_SHARED_ENVIRON`` in the module docstring. Built
    from the middleware it replaces, with the same Flask app, Socket.IO
    server, wrapped ``wsgi_app`` and path.
    """

    def __init__(self, replaced: python_socketio.WSGIApp) -> None:
        self.flask_app = replaced.flask_app  # type: ignore[attr-defined]
        super().__init__(
            replaced.engineio_app,
            replaced.wsgi_app,
            static_files=replaced.static_files,
            socketio_path=replaced.engineio_path,
        )

    def __call__(self, environ: dict[str, t.Any], start_response: Callable[..., t.Any]) -> t.Iterable[bytes]:
        environ["flask.app"] = self.flask_app
        return super().__call__(environ, start_response)


#: ``app.extensions`` key: :func:`share_environ` found Flask-SocketIO's middleware wrapped.
SHARED_ENVIRON_LEFT_OUT = "realtime.shared_environ_left_out"


def share_environ(app: Flask, socketio: SocketIO, config: Mapping[str, t.Any]) -> bool:
    """Put a :class:`SocketIOMiddleware` in Flask-SocketIO's place if ``config`` says so; return whether it is there.

    Only while ``app.wsgi_app`` still is Flask-SocketIO's own middleware, as
    ``socketio.init_app(app)`` left it: a middleware wrapped around it holds
    it, and could not be pointed at the replacement.
    """
    if not config.get("REALTIME_SHARED_ENVIRON", DEFAULTS["REALTIME_SHARED_ENVIRON"]):
        return False
    current = getattr(socketio, "sockio_mw", None)
    if isinstance(current, SocketIOMiddleware):
        return True
    if app.extensions.get(SHARED_ENVIRON_LEFT_OUT):
        return False  # decided (and logged) by an earlier call
    if type(current) is not getattr(flask_socketio, "_SocketIOMiddleware", None) or app.wsgi_app is not current:
        logger.info(
            "REALTIME_SHARED_ENVIRON is on but left out: app.wsgi_app is not Flask-SocketIO's middleware"
            " as SocketIO.init_app(app) installed it (wrapped since, or another Flask-SocketIO version), so each"
            " websocket keeps two copies of its environ. Wrap app.wsgi_app after realtime's init_app to use it."
        )
        app.extensions[SHARED_ENVIRON_LEFT_OUT] = True
        return False
    replacement = SocketIOMiddleware(current)
    # Flask-SocketIO's run() inserts its debug middleware through this attribute.
    socketio.sockio_mw = replacement
    app.wsgi_app = replacement  # type: ignore[method-assign]
    return True


# -- the socket handed to eventlet ----------------------------------------------

GUNICORN_SOCKET = "gunicorn.socket"
EVENTLET_INPUT = "eventlet.input"


class SocketInput:
    """``environ["eventlet.input"]`` for a websocket under gunicorn: what eventlet's websocket code asks of it."""

    __slots__ = ("socket",)

    def __init__(self, socket: t.Any) -> None:
        self.socket = socket

    def get_socket(self) -> t.Any:
        return self.socket


class ShareSocketInput:
    """WSGI middleware: Socket.IO websocket upgrades under gunicorn carry their socket in a :class:`SocketInput`.

    See ``REALTIME_SHARED_SOCKET_INPUT`` in the module docstring. Requests
    that are not Socket.IO websocket upgrades, and environs that already have
    ``eventlet.input`` (eventlet's own server), pass unchanged.
    """

    def __init__(self, wsgi_app: WSGIApp, path: str = "/socket.io/") -> None:
        self.wsgi_app = direct_call(wsgi_app)
        self.path = path

    def __call__(self, environ: dict[str, t.Any], start_response: Callable[..., t.Any]) -> t.Iterable[bytes]:
        sock = environ.get(GUNICORN_SOCKET)
        if (
            sock is not None
            and EVENTLET_INPUT not in environ
            and is_websocket_upgrade(environ)
            and is_socketio_request(environ, self.path)
        ):
            environ[EVENTLET_INPUT] = SocketInput(sock)
            # python-engineio adds its own per-request class whenever this key
            # is present; restore_gunicorn_socket() puts it back.
            del environ[GUNICORN_SOCKET]
        return self.wsgi_app(environ, start_response)


def restore_gunicorn_socket(environ: dict[str, t.Any]) -> None:
    """Put back the ``gunicorn.socket`` that :class:`ShareSocketInput` moved aside, if it did."""
    handed_over = environ.get(EVENTLET_INPUT)
    if isinstance(handed_over, SocketInput):
        environ.setdefault(GUNICORN_SOCKET, handed_over.socket)


# -- the garbage collector -------------------------------------------------------


def freeze_startup_heap(apps: t.Iterable[Flask]) -> bool:
    """``gc.collect()`` then ``gc.freeze()`` if any of ``apps`` has ``REALTIME_GC_FREEZE`` on; return whether it did.

    Call once per process, after the app is loaded and before it serves
    (``gunicorn.conf.py`` does, in ``post_worker_init``).
    """
    if not any(app.config.get("REALTIME_GC_FREEZE", DEFAULTS["REALTIME_GC_FREEZE"]) for app in apps):
        return False
    gc.collect()
    gc.freeze()
    logger.info(
        "Garbage collector: %d start-up objects frozen out of its walks (REALTIME_GC_FREEZE)", gc.get_freeze_count()
    )
    return True


# -- routing tracebacks -----------------------------------------------------------


class RoutingTracebackRelease:
    """``teardown_request`` function: a Socket.IO request context's routing exception loses its traceback.

    See ``REALTIME_RELEASE_ROUTING_TRACEBACKS`` in the module docstring: the
    traceback is what ties the request context into a reference cycle.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, exc: BaseException | None = None) -> None:
        routing = request.routing_exception
        if routing is not None and is_socketio_request(request.environ, self.path):
            routing.__traceback__ = None


def install_routing_traceback_release(app: Flask, path: str) -> None:
    if not any(isinstance(f, RoutingTracebackRelease) for f in app.teardown_request_funcs.get(None, [])):
        app.teardown_request(RoutingTracebackRelease(path))


# -- the session lookup ---------------------------------------------------------

T = t.TypeVar("T")


def call_in_task(socketio: SocketIO, func: Callable[..., T], *args: t.Any) -> T:
    """``func(*args)`` run in a background task of ``socketio``'s async mode; wait for it and return its result.

    Exceptions travel back to the caller unchanged.
    """
    done = socketio.server.eio.create_event()
    outcome: dict[str, t.Any] = {}

    def run() -> None:
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
            outcome["error"] = exc
        finally:
            done.set()

    socketio.start_background_task(run)
    done.wait()
    if "error" in outcome:
        raise outcome["error"]
    return t.cast(T, outcome["value"])


# -- websocket compression ----------------------------------------------------


def without_deflate(offer: str) -> str:
    """``Sec-WebSocket-Extensions`` value with every permessage-deflate offer removed."""
    kept = [
        item.strip()
        for item in offer.split(",")
        if item.strip() and item.split(";", 1)[0].strip().lower() != "permessage-deflate"
    ]
    return ", ".join(kept)


class RefuseWebSocketCompression:
    """WSGI middleware: Socket.IO websocket upgrades are answered without permessage-deflate.

    Other requests, and other extensions a client offers, pass unchanged.
    """

    def __init__(self, wsgi_app: WSGIApp, path: str = "/socket.io/") -> None:
        self.wsgi_app = direct_call(wsgi_app)
        self.path = path

    def __call__(self, environ: dict[str, t.Any], start_response: Callable[..., t.Any]) -> t.Iterable[bytes]:
        offer = environ.get("HTTP_SEC_WEBSOCKET_EXTENSIONS")
        if offer is not None and is_socketio_request(environ, self.path):
            remaining = without_deflate(offer)
            if remaining:
                environ["HTTP_SEC_WEBSOCKET_EXTENSIONS"] = remaining
            else:
                del environ["HTTP_SEC_WEBSOCKET_EXTENSIONS"]
        return self.wsgi_app(environ, start_response)


# -- the managed session --------------------------------------------------------


class SocketSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, except in Socket.IO events that already have a managed copy.

    For those, :meth:`open_session` returns Flask-SocketIO's
    ``environ["saved_session"]`` (the object it would install anyway) instead
    of verifying the cookie again. Everything else, including how cookies are
    signed and read, is :class:`~flask.sessions.SecureCookieSessionInterface`.
    Only valid with ``SocketIO(manage_session=True)``: without it there is no
    saved copy, and this behaves exactly like its parent.

    The signing serializer is built once and reused until the secret key, its
    fallbacks or the signing settings change, so a key rotated at run time
    takes effect with the next request, as with Flask's own interface.
    """

    def __init__(self) -> None:
        self._signing: tuple[tuple[t.Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (
            app.secret_key,
            tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()),
            self.salt,
            self.digest_method,
            self.key_derivation,
            self.serializer,
        )
        cached = self._signing
        if cached is not None and cached[0] == keys:
            return cached[1]
        serializer = super().get_signing_serializer(app)
        self._signing = (keys, serializer)
        return serializer

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        saved = request.environ.get(SAVED_SESSION_KEY)
        if isinstance(saved, SessionMixin):
            return saved
        return super().open_session(app, request)


def install_socket_session_interface(app: Flask) -> bool:
    """Use :class:`SocketSessionInterface` if the app runs Flask's default cookie sessions.

    An app with its own session interface (server-side sessions, a custom
    serializer) keeps it; this option then does nothing.
    """
    current = app.session_interface
    if isinstance(current, SocketSessionInterface):
        return True
    if type(current) is not SecureCookieSessionInterface:
        logger.info(
            "REALTIME_REUSE_SOCKET_SESSION skipped: the app uses its own session interface (%s).",
            type(current).__name__,
        )
        return False
    app.session_interface = SocketSessionInterface()
    return True


# -- URL adapter ----------------------------------------------------------------


class LazyURLAdapter:
    """Stands in for werkzeug's ``MapAdapter`` in a Socket.IO event's request context.

    ``match(return_rule=True)``, which Flask calls for every request context,
    raises ``NotFound`` straight away once the real adapter has answered
    ``NotFound`` for this path and method (routes cannot change after the
    first request). Anything else (``build`` for ``url_for``, other outcomes,
    other calls) goes to the real adapter, built on first use.
    """

    def __init__(
        self,
        build: Callable[[], MapAdapter | None],
        not_found: set[tuple[str, str]],
        key: tuple[str, str],
    ) -> None:
        self._build = build
        self._not_found = not_found
        self._key = key
        self._real: MapAdapter | None = None

    @property
    def real(self) -> MapAdapter:
        if self._real is None:
            self._real = self._build()
        return t.cast("MapAdapter", self._real)

    def match(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        remembered = not args and kwargs == {"return_rule": True}
        if remembered and self._key in self._not_found:
            raise NotFound()
        try:
            return self.real.match(*args, **kwargs)
        except NotFound:
            if remembered:
                self._not_found.add(self._key)
            raise

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self.real, name)


class LazySocketURLAdapters:
    """``app.create_url_adapter`` that hands Socket.IO request contexts a :class:`LazyURLAdapter`.

    Flask documents ``create_url_adapter`` as the place to customise how a
    request's adapter is made. Requests outside the Socket.IO path, apps that
    match on host or subdomain, and apps with ``TRUSTED_HOSTS`` (checked while
    the adapter is built) get Flask's own adapter, unchanged.
    """

    def __init__(self, app: Flask, create: Callable[[Request | None], MapAdapter | None], path: str) -> None:
        self.app = app
        self.create = create
        self.path = path
        #: The only (PATH_INFO, method) pairs whose outcome is remembered: the Socket.IO path itself, as
        #: clients request it. Engine.IO serves every path under it, and a client chooses the path and
        #: method, so remembering whatever arrives would grow with each new path a client sends.
        self.rememberable = frozenset((p, m) for p in (path, path.rstrip("/")) for m in ("GET", "POST"))
        #: The pairs of ``rememberable`` the app's routes answered NotFound for.
        self.not_found: set[tuple[str, str]] = set()

    def __call__(self, request: Request | None) -> MapAdapter | LazyURLAdapter | None:
        if request is None or not self._can_defer(request):
            return self.create(request)
        environ = request.environ
        key = (environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET"))
        if key not in self.rememberable:
            return self.create(request)  # Flask's own adapter, nothing kept
        return LazyURLAdapter(lambda: self.create(request), self.not_found, key)

    def _can_defer(self, request: Request) -> bool:
        app = self.app
        return (
            is_socketio_request(request.environ, self.path)
            and app.config.get("TRUSTED_HOSTS") is None
            and not app.url_map.host_matching
            and not app.subdomain_matching
        )


def install_lazy_url_adapters(app: Flask, path: str) -> bool:
    """Give Socket.IO events lazily built URL adapters (see :class:`LazySocketURLAdapters`)."""
    current = app.create_url_adapter
    if isinstance(current, LazySocketURLAdapters):
        return True
    if getattr(current, "__func__", None) is not Flask.create_url_adapter:
        logger.info("REALTIME_LAZY_URL_ADAPTER skipped: the app overrides create_url_adapter.")
        return False
    app.create_url_adapter = LazySocketURLAdapters(app, current, path)  # type: ignore[method-assign]
    return True
