"""Identity handlers: Socket.IO events that get the authenticated socket, not a request context.

``@socketio.on(event)`` handlers run inside a Flask request context that
Flask-SocketIO builds for every event (a ``Request`` over the handshake
environ, the app context, the session, URL matching), only so that
``request.sid`` and ``session`` work. Most realtime handlers need neither:
they need who is speaking and a way to answer. ``@realtime.on(event)``
registers the handler with python-socketio directly and calls it as
``handler(socket, *args)``, where :class:`Socket` carries the
:class:`~realtime.connections.Identity` the connect guard established, with
the app context pushed (``current_app``, ``g`` and extensions work). As with
Phoenix's ``handle_in(event, payload, socket)``, no per-message HTTP state
exists, which saves what the profiles put at about 15% of an event's
server CPU (README "Performance").

What differs from ``@socketio.on``: ``flask.request``, ``flask.session``
and Flask-SocketIO's context-bound helpers (``emit``, ``join_room``, ...)
are not available; use the :class:`Socket` methods instead. An exception
in a handler is logged with its traceback and answered with an empty ack;
the socket stays connected. A join beyond ``REALTIME_MAX_ROOMS_PER_SOCKET``
is answered with the ack of :class:`~realtime.errors.TooManyRooms`.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Callable

from flask import Flask

from .errors import TooManyRooms

if t.TYPE_CHECKING:
    from .connections import Connections, Identity

logger = logging.getLogger(__name__)

EventHandler = Callable[..., t.Any]


class Socket:
    """One authenticated socket, as an identity handler sees it."""

    __slots__ = ("sid", "namespace", "identity", "_server")

    def __init__(self, server: t.Any, sid: str, namespace: str, identity: Identity) -> None:
        self._server = server
        #: python-socketio's id of this socket (not the session id).
        self.sid = sid
        self.namespace = namespace
        self.identity = identity

    @property
    def uid(self) -> str:
        """The user this socket was authenticated as."""
        return self.identity.uid

    def join(self, room: str) -> None:
        self._server.enter_room(self.sid, room, namespace=self.namespace)

    def leave(self, room: str) -> None:
        self._server.leave_room(self.sid, room, namespace=self.namespace)

    def emit(self, event: str, data: t.Any = None, *, to: str | None = None, include_self: bool = True) -> None:
        """Send ``event`` to this socket, or to room ``to`` (this socket left out if ``include_self`` is false)."""
        self._server.emit(
            event,
            data,
            to=to or self.sid,
            namespace=self.namespace,
            skip_sid=None if include_self else self.sid,
        )

    def disconnect(self) -> None:
        self._server.disconnect(self.sid, namespace=self.namespace)

    def __repr__(self) -> str:
        return f"<Socket {self.sid} uid={self.uid!r} namespace={self.namespace!r}>"


def dispatcher(
    app: Flask, server: t.Any, connections: Connections, event: str, namespace: str, handler: EventHandler
) -> Callable[..., t.Any]:
    """The python-socketio handler ``(sid, *args)`` that calls ``handler(socket, *args)``.

    A socket the guard did not accept has no identity (python-socketio only
    delivers events of connected sockets, so this is a socket that is
    already gone); its events are dropped.
    """

    def dispatch(sid: str, *args: t.Any) -> t.Any:
        identity = connections.get((sid, namespace))
        if identity is None:
            return None
        with app.app_context():
            try:
                return handler(Socket(server, sid, namespace, identity), *args)
            except TooManyRooms as exc:
                # Asked for by the client: a clear ack, and no log line per attempt.
                logger.debug("Socket event %r refused: %s (uid %s)", event, exc.code, identity.uid)
                return exc.ack()
            except Exception:
                logger.exception("Socket event %r failed (uid %s); answered with an empty ack", event, identity.uid)
                return None

    dispatch.__wrapped__ = handler  # type: ignore[attr-defined]
    return dispatch
