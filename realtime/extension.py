"""The ``Realtime`` Flask extension: the connect guard and the HTTP session helpers.

An existing app adds it in a few lines::

    socketio = SocketIO()
    realtime = Realtime()

    def create_app():
        app = Flask(__name__)
        ...
        realtime.init_app(app, socketio)

Every Socket.IO connection is then refused unless the browser's Flask session
cookie names a live, logged-in session record.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import time
import typing as t
from collections.abc import Callable

from flask import Flask, current_app, request, session
from flask.sessions import SessionMixin
from flask_socketio import ConnectionRefusedError, SocketIO

from . import (
    anonymous,
    auth,
    binding,
    body_deadline,
    events,
    framing,
    health,
    helpers,
    logsafe,
    origins,
    perf,
    ratelimit,
    rooms,
    signals,
    transport,
    unauthenticated,
)
from .config import is_development, message_queue_url, settle, validate
from .connections import Identity, SocketRef
from .errors import AuthError, ConfigError, StoreError
from .helpers import (  # noqa: F401 - re-exported: realtime.extension.X keeps working
    check_csrf,
    csrf_token,
    current_identity,
    current_session,
    emit_to_session,
    emit_to_user,
    login_session,
    logout_session,
    revoke_session,
    revoke_user,
)
from .rooms import session_room, user_room
from .sessions import SessionRecord, SessionStore
from .state import EXTENSION_KEY, RealtimeState, get_state
from .stores import build_store

logger = logging.getLogger(__name__)
guard_logger = logging.getLogger("realtime.guard")

#: Tags on the log record of a refusal caused by the store, for log search.
STORE_ERROR_TAGS = ("socket", "error", "authentication")

ConnectHook = Callable[[Identity], t.Any]
DisconnectHook = Callable[[Identity, t.Any], t.Any]


class Realtime:
    """Authenticated Socket.IO for a Flask app, from the app's own session cookie."""

    def __init__(self, app: Flask | None = None, socketio: SocketIO | None = None) -> None:
        self._connect_hooks: list[ConnectHook] = []
        self._disconnect_hooks: list[DisconnectHook] = []
        self._schema_hooks: list[Callable[[], list[str]]] = []
        #: Identity handlers: (event, namespace, handler), installed on every app's server.
        self._event_handlers: list[tuple[str, str, events.EventHandler]] = []
        self._apps: list[Flask] = []
        #: Endpoints that never create a session record (static files, probes).
        self.exempt_endpoints: set[str] = {"static"}
        if app is not None:
            self.init_app(app, socketio)

    # -- setup -------------------------------------------------------------

    def init_app(self, app: Flask, socketio: SocketIO | None = None) -> SocketIO:
        """Configure ``app``; return the ``SocketIO`` it uses (created if not given)."""
        config = app.config
        settle(config, os.environ)
        validate(config)
        development = is_development(config)
        _require_secret_key(app, development)
        _secure_cookie_settings(app, development)

        # A ready-made SessionStore instance may be given (custom backends, tests).
        store = config.get("REALTIME_SESSION_STORE") or build_store(config, app.instance_path)
        queue = message_queue_url(config)
        if queue and store.kind == "embedded":
            raise ConfigError(
                "A message queue is configured (REALTIME_MESSAGE_QUEUE or REDIS_URL) but sessions are in the embedded"
                " store, which other instances cannot read. Set ARANGO_URL so all instances share one session store,"
                " or unset the message queue to run a single instance."
            )

        socketio = socketio if socketio is not None else SocketIO()
        state = RealtimeState(self, store, socketio, exempt_endpoints=self.exempt_endpoints)
        app.extensions[EXTENSION_KEY] = state
        if socketio.server is None:
            socketio.init_app(app, **self.socketio_options(config))
        # Before any middleware wraps Flask-SocketIO's (README "Performance").
        perf.share_environ(app, socketio, config)
        state.registry_rooms = bool(config["REALTIME_REGISTRY_ROOMS"]) and rooms.attach(
            socketio.server.manager, state.connections
        )
        if not rooms.limit_rooms(socketio.server.manager, int(config["REALTIME_MAX_ROOMS_PER_SOCKET"])):
            logger.info("The SocketIO server has a client manager of its own: rooms per socket are not capped.")
        self._guard(state, "/")
        self._apps.append(app)
        for event, namespace, handler in self._event_handlers:
            self._install_event(app, event, namespace, handler)
        _refuse_unsafe_server(socketio)
        # Hardening (README "Security"): gates before the session check, health
        # endpoints, clean closes on malformed frames, no sid in driver logs,
        # Engine.IO sessions bound to their handshake's session.
        origins.init_app(app, state)
        ratelimit.init_app(app, state)
        health.init_app(app, state)
        transport.init_app(app, state)
        logsafe.install()
        app.wsgi_app = perf.direct_call(GuardCheck(app.wsgi_app, state))  # type: ignore[method-assign]
        # Every CONNECT packet asks the guard too: a websocket opened before a
        # namespace existed makes no HTTP request that GuardCheck could see.
        unauthenticated.init_app(app, state, functools.partial(connect_refusal, state))
        # In front of the checks above: Engine.IO requests only from the session that opened them.
        binding.init_app(app, state)
        # Performance options (README "Performance"), each switchable by config.
        perf.install(app, socketio, config)
        # Outermost: every read of a request body, by any layer, has a deadline.
        body_deadline.init_app(app, state)

        anonymous.init_app(app, state)
        framing.init_app(app)
        _init_operations(app, state)
        from .live import LiveSessions

        state.live = LiveSessions(app, state)
        if state.live.sliding:
            app.after_request(helpers.slide_session)
        from .cli import realtime_cli

        app.cli.add_command(realtime_cli)
        _log_store_choice(store)
        return socketio

    def socketio_options(self, config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Keyword arguments for ``SocketIO.init_app`` derived from the configuration."""
        options: dict[str, t.Any] = {
            "async_mode": config["REALTIME_ASYNC_MODE"],
            "max_http_buffer_size": int(config["REALTIME_MAX_MESSAGE_BYTES"]),
            # The copy of the session made at connect time is what handlers
            # see; never let a handler's write travel back into the cookie.
            "manage_session": True,
            # always_connect would accept the socket before the guard runs.
            "always_connect": False,
            # Only our own pages (and REALTIME_ALLOWED_ORIGINS) may open sockets.
            "cors_allowed_origins": origins.policy_from_config(config),
        }
        from .live.bus import client_manager

        # Built by realtime.live (not message_queue=) for the channel and TLS
        # options; realtime's managers answer identity rooms from the registry
        # (only when REALTIME_REGISTRY_ROOMS attaches it) and cap rooms per socket.
        manager = client_manager(config, manager_class=rooms.RegistryRoomsRedisManager)
        options["client_manager"] = manager or rooms.RegistryRoomsManager()
        return options

    def _guard(self, state: RealtimeState, namespace: str) -> None:
        state.socketio.on("connect", namespace=namespace)(self._on_connect)
        state.socketio.on("disconnect", namespace=namespace)(self._on_disconnect)
        state.guarded.add(namespace)

    def on(self, event: str, namespace: str = "/") -> Callable[[events.EventHandler], events.EventHandler]:
        """Register an identity handler: ``handler(socket, *args)`` for ``event`` (see :mod:`realtime.events`).

        The handler gets a :class:`~realtime.events.Socket` (its ``uid``,
        ``identity``, ``join``/``leave``/``emit``) inside the app context,
        without Flask-SocketIO's per-event request context; what it returns
        is the ack. Use ``@socketio.on`` for handlers that need ``request``
        or ``session``.
        """

        def register(handler: events.EventHandler) -> events.EventHandler:
            if event in ("connect", "disconnect"):
                raise ConfigError(
                    f"realtime.on({event!r}) would replace the connect guard; use realtime.on_{event} instead."
                )
            self._event_handlers.append((event, namespace, handler))
            for app in self._apps:
                self._install_event(app, event, namespace, handler)
            return handler

        return register

    def _install_event(self, app: Flask, event: str, namespace: str, handler: events.EventHandler) -> None:
        state = get_state(app)
        if namespace not in state.guarded:
            self._guard(state, namespace)
        server = state.socketio.server
        server.on(event, events.dispatcher(app, server, state.connections, event, namespace, handler), namespace)

    def on_connect(self, func: ConnectHook) -> ConnectHook:
        """Register ``func(identity)`` to run after a socket is authenticated.

        Use this instead of ``@socketio.on("connect")``, which would replace
        the guard. Raising ``ConnectionRefusedError`` refuses the socket.
        """
        self._connect_hooks.append(func)
        return func

    def on_disconnect(self, func: DisconnectHook) -> DisconnectHook:
        """Register ``func(identity, reason)`` to run when an authenticated socket leaves."""
        self._disconnect_hooks.append(func)
        return func

    def on_init_db(self, func: Callable[[], list[str]]) -> Callable[[], list[str]]:
        """Register a schema step run by ``flask realtime init-db``; it returns what it created."""
        self._schema_hooks.append(func)
        return func

    def init_db(self) -> list[str]:
        created = get_state().store.init_schema()
        for hook in self._schema_hooks:
            created += hook()
        return created

    # -- the connect guard -------------------------------------------------

    def _on_connect(self, auth_payload: t.Any = None) -> None:
        # Timed as a whole (gates, the session read, hooks) for the auth
        # latency metric; connect_checked reports every decision, either way.
        started = time.perf_counter()
        outcome, reason = "refused", "error"
        try:
            self._check_socket()
            outcome, reason = "accepted", "ok"
        except ConnectionRefusedError as exc:
            reason = (exc.error_args.get("data") or {}).get("reason", "error")
            raise
        finally:
            signals.connect_checked.send(
                current_app._get_current_object(), outcome=outcome, reason=reason, seconds=time.perf_counter() - started
            )

    def _check_socket(self) -> None:
        state = get_state()
        ref: SocketRef = (request.sid, request.namespace)  # type: ignore[attr-defined]
        try:
            for gate in state.gates:
                gate(request.environ)
            record = self._authenticate(state)
        except AuthError as exc:
            guard_logger.info("Socket refused: %s (%s) from %s", exc.message, exc.reason, request.remote_addr)
            signals.socket_refused.send(
                current_app._get_current_object(), reason=exc.reason, remote_addr=request.remote_addr
            )
            raise ConnectionRefusedError(exc.message, {"reason": exc.reason}) from None
        except StoreError as exc:
            self._refuse_unavailable(str(exc))
        except Exception as exc:  # noqa: BLE001 - any surprise must refuse, never let in
            self._refuse_unavailable(f"unexpected {type(exc).__name__} in the session check")

        identity = Identity(uid=t.cast(str, record.uid), session_id=record.sid, expires_at=record.expires_at)
        state.connections.add(ref, identity)
        try:
            if not state.registry_rooms:
                state.socketio.server.enter_room(ref[0], user_room(identity.uid), namespace=ref[1])
                state.socketio.server.enter_room(ref[0], session_room(identity.session_id), namespace=ref[1])
            for hook in self._connect_hooks:
                if hook(identity) is False:
                    raise ConnectionRefusedError("Connection rejected by server", {"reason": "rejected"})
        except ConnectionRefusedError:
            state.connections.remove(ref)
            raise
        except Exception:
            state.connections.remove(ref)
            guard_logger.exception("A connect hook failed; refusing the socket")
            raise ConnectionRefusedError("Server error", {"reason": "error"}) from None
        signals.socket_connected.send(current_app._get_current_object(), identity=identity, ref=ref)

    @staticmethod
    def _authenticate(state: RealtimeState) -> SessionRecord:
        read_session = state.store.get
        if current_app.config["REALTIME_SESSION_LOOKUP_IN_TASK"]:
            # Only the store request moves to a short-lived task, which keeps
            # the socket's reader greenlet shallow; a cookie that names no
            # session is refused without one.
            read_session = functools.partial(perf.call_in_task, state.socketio, read_session)
        return auth.authenticate(_handshake_session(), read_session)

    @staticmethod
    def _refuse_unavailable(cause: str) -> t.NoReturn:
        message, reason = auth.UNAVAILABLE
        guard_logger.error(
            "Socket refused: session store unavailable: %s",
            cause,
            extra={"tags": STORE_ERROR_TAGS, "reason": reason},
        )
        signals.store_failed.send(current_app._get_current_object(), operation="connect")
        signals.socket_refused.send(current_app._get_current_object(), reason=reason, remote_addr=request.remote_addr)
        raise ConnectionRefusedError(message, {"reason": reason}) from None

    def _on_disconnect(self, reason: t.Any = None) -> None:
        state = get_state()
        ref: SocketRef = (request.sid, request.namespace)  # type: ignore[attr-defined]
        identity = state.connections.remove(ref)
        if identity is None:
            return
        signals.socket_disconnected.send(current_app._get_current_object(), identity=identity, ref=ref, reason=reason)
        for hook in self._disconnect_hooks:
            try:
                hook(identity, reason)
            except Exception:
                logger.exception("A disconnect hook failed")

    # -- HTTP sessions -----------------------------------------------------

    def exempt(self, view: Callable[..., t.Any]) -> Callable[..., t.Any]:
        """Decorate a view that must never create a session (health checks, webhooks)."""
        self.exempt_endpoints.add(view.__name__)
        return view


def _handshake_session() -> t.Mapping[str, t.Any]:
    """The handshake cookie's session, as Flask-SocketIO copied it for this socket (``manage_session``).

    The same mapping ``flask.session`` returns in the connect handler, read
    without the proxy: the proxy marks the session ``accessed``, an attribute
    that gives the copy, a dict subclass, an instance ``__dict__`` of its own
    for the socket's life (about 0.3 KiB per socket).
    """
    saved = request.environ.get(perf.SAVED_SESSION_KEY)
    return saved if isinstance(saved, SessionMixin) else session


class GuardCheck:
    """WSGI middleware that keeps the guard in place on every namespace.

    python-socketio accepts a connection to any namespace that has handlers
    or is listed in ``SocketIO(namespaces=...)``, and a namespace without a
    connect handler accepts everyone. So before an Engine.IO request is
    served, every such namespace must have our connect handler
    (:func:`ensure_guard`); a namespace added later gets it, and a replaced
    one makes the request fail (closed) with a log line that says how to fix
    it. A websocket makes no more requests once open, so every CONNECT packet
    is checked the same way too (:func:`connect_refusal`, called by
    :mod:`realtime.unauthenticated`).
    """

    def __init__(self, wsgi_app: t.Any, state: RealtimeState) -> None:
        self.wsgi_app = perf.direct_call(wsgi_app)
        self.state = state
        self.path = perf.socketio_path(state.socketio).rstrip("/")

    def __call__(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        if environ.get("PATH_INFO", "").startswith(self.path):
            try:
                self.check()
            except ConfigError as exc:
                logger.critical("%s", exc)
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"realtime: the Socket.IO connect guard is not in place; see the server log."]
        return self.wsgi_app(environ, start_response)

    def check(self) -> None:
        ensure_guard(self.state)


def ensure_guard(state: RealtimeState) -> None:
    """Put the guard on every namespace a client can join, or raise ConfigError when it cannot be there.

    A namespace can be joined when it has handlers or is listed in
    ``SocketIO(namespaces=[...])``; a listed one without handlers (a push-only
    namespace) would accept everyone.
    """
    server = state.socketio.server
    extension = state.extension
    if server.namespace_handlers:
        raise ConfigError(
            "Class-based Socket.IO namespaces are not guarded by realtime. Register handlers with"
            " @socketio.on(event, namespace=...) instead."
        )
    if server.namespaces == "*":
        raise ConfigError("SocketIO(namespaces='*') accepts namespaces nobody guards. List the namespaces instead.")
    for namespace in server.namespaces:
        if namespace not in server.handlers:
            extension._guard(state, namespace)
    for namespace, handlers in list(server.handlers.items()):
        if namespace not in state.guarded:
            if "connect" in handlers or "disconnect" in handlers:
                raise ConfigError(_replaced_message(namespace))
            extension._guard(state, namespace)
        elif (
            getattr(handlers.get("connect"), "__wrapped__", None) != extension._on_connect
            or getattr(handlers.get("disconnect"), "__wrapped__", None) != extension._on_disconnect
        ):
            raise ConfigError(_replaced_message(namespace))


#: The refusal a CONNECT gets while the guard cannot be in place (the log says why).
GUARD_MISSING = {"message": "Server error", "data": {"reason": "error"}}


def connect_refusal(state: RealtimeState, namespace: str) -> dict[str, t.Any] | None:
    """``None`` when the guard is in place for a CONNECT to ``namespace``, else the refusal to send."""
    try:
        ensure_guard(state)
    except ConfigError as exc:
        logger.critical("%s", exc)
        return GUARD_MISSING
    return None


def _replaced_message(namespace: str) -> str:
    return (
        f"The Socket.IO connect/disconnect handler of namespace {namespace!r} is not realtime's, so sockets would"
        " connect without authentication. Remove @socketio.on('connect'/'disconnect') and use"
        " @realtime.on_connect / @realtime.on_disconnect."
    )


def _refuse_unsafe_server(socketio: SocketIO) -> None:
    if getattr(socketio.server, "always_connect", False):
        raise ConfigError("SocketIO(always_connect=True) accepts sockets before they are checked. Remove that option.")
    if getattr(socketio, "manage_session", True) is False:
        raise ConfigError(
            "SocketIO(manage_session=False) would save the cookie session from socket handlers. Remove that option."
        )


def _require_secret_key(app: Flask, development: bool) -> None:
    if app.secret_key:
        return
    if not development:
        raise ConfigError(
            "SECRET_KEY is not set. It signs the session cookie that authenticates every socket. Set it in the"
            " environment to a long random value, e.g. SECRET_KEY=$(python -c 'import secrets;"
            " print(secrets.token_hex(32))'), or set REALTIME_ENV=development for a generated development key."
        )
    # Development only: a random key kept in the instance folder, so logins
    # survive a restart of the dev server. Never used in production.
    path = os.path.join(app.instance_path, "dev-secret-key")
    os.makedirs(app.instance_path, exist_ok=True)
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    with open(path) as f:
        app.secret_key = f.read().strip()
    logger.warning("Development mode: using the generated SECRET_KEY in %s. Set SECRET_KEY in production.", path)


def _secure_cookie_settings(app: Flask, development: bool) -> None:
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if not development:
        app.config["SESSION_COOKIE_SECURE"] = True


def _init_operations(app: Flask, state: RealtimeState) -> None:
    """Metrics, graceful shutdown, the message queue's readiness check, Flask-Login (README "Operations")."""
    from . import flask_login, metrics, queue_check, shutdown

    metrics.init_app(app, state)
    shutdown.init_app(app, state)
    queue_check.init_app(app)
    if app.config["REALTIME_FLASK_LOGIN"]:
        flask_login.init_app(app)


def _log_store_choice(store: SessionStore) -> None:
    if store.kind == "embedded":
        logger.info(
            "Session store: %s. Set ARANGO_URL (and ARANGO_DB, ARANGO_USERNAME, ARANGO_PASSWORD) to use ArangoDB.",
            store.describe(),
        )
    else:
        logger.info("Session store: %s.", store.describe())
