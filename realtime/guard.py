"""The connect guard: every Socket.IO connection is refused unless its handshake cookie names a live,
logged-in session record.

One :class:`Guard` per extension. Its connect handler runs the gates
(``state.gates``: drain, missing Origin, rate limit, in that order), reads the
session record, registers the socket and runs the app's connect hooks; its
disconnect handler undoes that. :class:`GuardCheck` (a WSGI layer) and
:meth:`Guard.connect_refusal` (asked for every CONNECT packet by
:mod:`realtime.unauthenticated`) keep the handlers in place on every
namespace a client can join. Refusals are logged on ``realtime.guard``.
"""

from __future__ import annotations

import functools
import logging
import time
import typing as t
from collections.abc import Callable

from flask import current_app, request, session
from flask.sessions import SessionMixin
from flask_socketio import ConnectionRefusedError, SocketIO

from . import _wsgi, auth, perf, signals
from .connections import Identity, SocketRef
from .errors import AuthError, ConfigError, StoreError
from .rooms import session_room, user_room
from .sessions import SessionRecord
from .state import RealtimeState, get_state

logger = logging.getLogger(__name__)

#: Tags on the log record of a refusal caused by the store, for log search.
STORE_ERROR_TAGS = ("socket", "error", "authentication")
#: The refusal a CONNECT gets while the guard cannot be in place (the log says why).
GUARD_MISSING = {"message": "Server error", "data": {"reason": "error"}}

ConnectHook = Callable[[Identity], t.Any]
DisconnectHook = Callable[[Identity, t.Any], t.Any]


class Guard:
    """The connect and disconnect handlers of one extension, on every namespace of every app it serves."""

    def __init__(self) -> None:
        #: ``Realtime.on_connect`` / ``on_disconnect`` append here.
        self.connect_hooks: list[ConnectHook] = []
        self.disconnect_hooks: list[DisconnectHook] = []

    def install(self, state: RealtimeState, namespace: str) -> None:
        """Make the guard the connect and disconnect handler of ``namespace``."""
        state.socketio.on("connect", namespace=namespace)(self.handle_connect)
        state.socketio.on("disconnect", namespace=namespace)(self.handle_disconnect)
        state.guarded.add(namespace)

    # -- the handlers --------------------------------------------------------

    def handle_connect(self, auth_payload: t.Any = None) -> None:
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
            record = _authenticate(state)
        except AuthError as exc:
            logger.info("Socket refused: %s (%s) from %s", exc.message, exc.reason, request.remote_addr)
            signals.socket_refused.send(
                current_app._get_current_object(), reason=exc.reason, remote_addr=request.remote_addr
            )
            raise ConnectionRefusedError(exc.message, {"reason": exc.reason}) from None
        except StoreError as exc:
            _refuse_unavailable(str(exc))
        except Exception as exc:  # noqa: BLE001 - any surprise must refuse, never let in
            _refuse_unavailable(f"unexpected {type(exc).__name__} in the session check")

        identity = Identity(uid=t.cast(str, record.uid), session_id=record.sid, expires_at=record.expires_at)
        state.connections.add(ref, identity)
        try:
            if not state.registry_rooms:
                state.socketio.server.enter_room(ref[0], user_room(identity.uid), namespace=ref[1])
                state.socketio.server.enter_room(ref[0], session_room(identity.session_id), namespace=ref[1])
            for hook in self.connect_hooks:
                if hook(identity) is False:
                    raise ConnectionRefusedError("Connection rejected by server", {"reason": "rejected"})
        except ConnectionRefusedError:
            state.connections.remove(ref)
            raise
        except Exception:
            state.connections.remove(ref)
            logger.exception("A connect hook failed; refusing the socket")
            raise ConnectionRefusedError("Server error", {"reason": "error"}) from None
        signals.socket_connected.send(current_app._get_current_object(), identity=identity, ref=ref)

    def handle_disconnect(self, reason: t.Any = None) -> None:
        state = get_state()
        ref: SocketRef = (request.sid, request.namespace)  # type: ignore[attr-defined]
        identity = state.connections.remove(ref)
        if identity is None:
            return
        signals.socket_disconnected.send(current_app._get_current_object(), identity=identity, ref=ref, reason=reason)
        for hook in self.disconnect_hooks:
            try:
                hook(identity, reason)
            except Exception:
                logger.exception("A disconnect hook failed")

    # -- keeping the handlers in place ----------------------------------------

    def ensure(self, state: RealtimeState) -> None:
        """Put the guard on every namespace a client can join, or raise ConfigError when it cannot be there.

        A namespace can be joined when it has handlers or is listed in
        ``SocketIO(namespaces=[...])``; a listed one without handlers (a push-only
        namespace) would accept everyone.
        """
        server = state.socketio.server
        if server.namespace_handlers:
            raise ConfigError(
                "Class-based Socket.IO namespaces are not guarded by realtime. Register handlers with"
                " @socketio.on(event, namespace=...) instead."
            )
        if server.namespaces == "*":
            raise ConfigError("SocketIO(namespaces='*') accepts namespaces nobody guards. List the namespaces instead.")
        for namespace in server.namespaces:
            if namespace not in server.handlers:
                self.install(state, namespace)
        for namespace, handlers in list(server.handlers.items()):
            if namespace not in state.guarded:
                if "connect" in handlers or "disconnect" in handlers:
                    raise ConfigError(_replaced_message(namespace))
                self.install(state, namespace)
            elif (
                getattr(handlers.get("connect"), "__wrapped__", None) != self.handle_connect
                or getattr(handlers.get("disconnect"), "__wrapped__", None) != self.handle_disconnect
            ):
                raise ConfigError(_replaced_message(namespace))

    def connect_refusal(self, state: RealtimeState, namespace: str) -> dict[str, t.Any] | None:
        """``None`` when the guard is in place for a CONNECT to ``namespace``, else the refusal to send."""
        try:
            self.ensure(state)
        except ConfigError as exc:
            logger.critical("%s", exc)
            return GUARD_MISSING
        return None


def _authenticate(state: RealtimeState) -> SessionRecord:
    read_session = state.store.get
    if current_app.config["REALTIME_SESSION_LOOKUP_IN_TASK"]:
        # Only the store request moves to a short-lived task, which keeps
        # the socket's reader greenlet shallow; a cookie that names no
        # session is refused without one.
        read_session = functools.partial(perf.call_in_task, state.socketio, read_session)
    return auth.authenticate(_handshake_session(), read_session)


def _refuse_unavailable(cause: str) -> t.NoReturn:
    message, reason = auth.UNAVAILABLE
    logger.error(
        "Socket refused: session store unavailable: %s",
        cause,
        extra={"tags": STORE_ERROR_TAGS, "reason": reason},
    )
    signals.store_failed.send(current_app._get_current_object(), operation="connect")
    signals.socket_refused.send(current_app._get_current_object(), reason=reason, remote_addr=request.remote_addr)
    raise ConnectionRefusedError(message, {"reason": reason}) from None


def _handshake_session() -> t.Mapping[str, t.Any]:
    """The handshake cookie's session, as Flask-SocketIO copied it for this socket (``manage_session``).

    The same mapping ``flask.session`` returns in the connect handler, read
    without the proxy: the proxy marks the session ``accessed``, an attribute
    that gives the copy, a dict subclass, an instance ``__dict__`` of its own
    for the socket's life.
    """
    saved = request.environ.get(_wsgi.SAVED_SESSION_KEY)
    return saved if isinstance(saved, SessionMixin) else session


class GuardCheck:
    """WSGI middleware that keeps the guard in place on every namespace.

    python-socketio accepts a connection to any namespace that has handlers
    or is listed in ``SocketIO(namespaces=...)``, and a namespace without a
    connect handler accepts everyone. So before an Engine.IO request is
    served, every such namespace must have our connect handler
    (:meth:`Guard.ensure`); a namespace added later gets it, and a replaced
    one makes the request fail (closed) with a log line that says how to fix
    it. A websocket makes no more requests once open, so every CONNECT packet
    is checked the same way too (:meth:`Guard.connect_refusal`, called by
    :mod:`realtime.unauthenticated`).
    """

    def __init__(self, wsgi_app: t.Any, state: RealtimeState, guard: Guard) -> None:
        self.wsgi_app = _wsgi.direct_call(wsgi_app)
        self.state = state
        self.guard = guard
        self.path = _wsgi.socketio_path(state.socketio).rstrip("/")

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
        self.guard.ensure(self.state)


def _replaced_message(namespace: str) -> str:
    return (
        f"The Socket.IO connect/disconnect handler of namespace {namespace!r} is not realtime's, so sockets would"
        " connect without authentication. Remove @socketio.on('connect'/'disconnect') and use"
        " @realtime.on_connect / @realtime.on_disconnect."
    )


def refuse_unsafe_server(socketio: SocketIO) -> None:
    """Raise ConfigError for ``SocketIO`` options under which the guard cannot hold."""
    if getattr(socketio.server, "always_connect", False):
        raise ConfigError("SocketIO(always_connect=True) accepts sockets before they are checked. Remove that option.")
    if getattr(socketio, "manage_session", True) is False:
        raise ConfigError(
            "SocketIO(manage_session=False) would save the cookie session from socket handlers. Remove that option."
        )
