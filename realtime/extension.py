"""The ``Realtime`` Flask extension: the registration API and ``init_app``, which assembles every part.

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
import typing as t
from collections.abc import Callable

from flask import Flask
from flask_socketio import SocketIO

from . import (
    _wsgi,
    anonymous,
    binding,
    body_deadline,
    events,
    flask_login,
    framing,
    health,
    helpers,
    logsafe,
    metrics,
    origins,
    perf,
    ratelimit,
    rooms,
    shutdown,
    transport,
    unauthenticated,
)
from .cli import realtime_cli
from .config import is_development, message_queue_url, settle, validate
from .errors import ConfigError
from .guard import ConnectHook, DisconnectHook, Guard, GuardCheck, refuse_unsafe_server
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
from .live import LiveSessions
from .live.bus import client_manager, ping_probe, redis_options
from .sessions import SessionStore
from .state import EXTENSION_KEY, RealtimeState, get_state
from .stores import build_store

logger = logging.getLogger(__name__)

#: The message queue's check in the ``/readyz`` answer (registered when a queue is configured).
QUEUE_CHECK = "message_queue"


class Realtime:
    """Authenticated Socket.IO for a Flask app, from the app's own session cookie."""

    def __init__(self, app: Flask | None = None, socketio: SocketIO | None = None) -> None:
        #: The connect guard every app of this extension installs (``on_connect``/``on_disconnect`` feed it).
        self.guard = Guard()
        # The guard's own hook lists, under the names they had when the guard lived here.
        self._connect_hooks = self.guard.connect_hooks
        self._disconnect_hooks = self.guard.disconnect_hooks
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
        self.guard.install(state, "/")
        self._apps.append(app)
        for event, namespace, handler in self._event_handlers:
            self._install_event(app, event, namespace, handler)
        refuse_unsafe_server(socketio)
        # Hardening (README "Security"): gates before the session check, health
        # endpoints, clean closes on malformed frames, no sid in driver logs,
        # Engine.IO sessions bound to their handshake's session.
        origins.init_app(app, state)
        ratelimit.init_app(app, state)
        health.init_app(app, state)
        transport.init_app(app, state)
        logsafe.install()
        app.wsgi_app = _wsgi.direct_call(GuardCheck(app.wsgi_app, state, self.guard))  # type: ignore[method-assign]
        # Every CONNECT packet asks the guard too: a websocket opened before a
        # namespace existed makes no HTTP request that GuardCheck could see.
        unauthenticated.init_app(app, state, functools.partial(self.guard.connect_refusal, state))
        # In front of the checks above: Engine.IO requests only from the session that opened them.
        binding.init_app(app, state)
        # Performance options (README "Performance"), each switchable by config.
        perf.install(app, socketio, config)
        # Outermost: every read of a request body, by any layer, has a deadline.
        body_deadline.init_app(app, state)

        anonymous.init_app(app, state)
        framing.init_app(app)
        _init_operations(app, state)
        state.live = LiveSessions(app, store=state.store, connections=state.connections, socketio=state.socketio)
        if state.live.sliding:
            app.after_request(helpers.slide_session)
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
        # Built by realtime.live (not message_queue=) for the channel and TLS
        # options; realtime's managers answer identity rooms from the registry
        # (only when REALTIME_REGISTRY_ROOMS attaches it) and cap rooms per socket.
        manager = client_manager(config, manager_class=rooms.RegistryRoomsRedisManager)
        options["client_manager"] = manager or rooms.RegistryRoomsManager()
        return options

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
            self.guard.install(state, namespace)
        server = state.socketio.server
        server.on(event, events.dispatcher(app, server, state.connections, event, namespace, handler), namespace)

    def on_connect(self, func: ConnectHook) -> ConnectHook:
        """Register ``func(identity)`` to run after a socket is authenticated.

        Use this instead of ``@socketio.on("connect")``, which would replace
        the guard. Raising ``ConnectionRefusedError`` refuses the socket.
        """
        self.guard.connect_hooks.append(func)
        return func

    def on_disconnect(self, func: DisconnectHook) -> DisconnectHook:
        """Register ``func(identity, reason)`` to run when an authenticated socket leaves."""
        self.guard.disconnect_hooks.append(func)
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

    # -- HTTP sessions -----------------------------------------------------

    def exempt(self, view: Callable[..., t.Any]) -> Callable[..., t.Any]:
        """Decorate a view that must never create a session (health checks, webhooks)."""
        self.exempt_endpoints.add(view.__name__)
        return view


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
    metrics.init_app(app, state)
    shutdown.init_app(app, state)
    queue = message_queue_url(app.config)
    if queue:
        # Critical: without the queue, messages and revocations stop reaching the other instances.
        probe = ping_probe(queue, redis_options(app.config), float(app.config["REALTIME_HEALTH_TIMEOUT"]))
        health.add_check(app, QUEUE_CHECK, probe)
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
