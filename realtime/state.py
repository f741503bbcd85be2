"""Per-app state: what one app holds (:class:`RealtimeState`) and how features reach it (:func:`get_state`).

It sits below every feature, as Flask-Login's ``utils.py`` reaches its manager
through ``current_app``: a feature takes the state in its ``init_app`` or calls
``get_state()``, and never imports the extension.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app
from flask_socketio import SocketIO

from .connections import Connections
from .sessions import SessionStore

if t.TYPE_CHECKING:
    from .extension import Realtime
    from .live import LiveSessions

#: The ``app.extensions`` key of the state.
EXTENSION_KEY = "realtime"


@dataclass
class RealtimeState:
    """Per-app state, kept in ``app.extensions["realtime"]``."""

    extension: Realtime
    store: SessionStore
    socketio: SocketIO
    connections: Connections = field(default_factory=Connections)
    #: Namespaces whose connect handler is ours (checked on every Engine.IO request).
    guarded: set[str] = field(default_factory=set)
    #: Revocation, expiry and sliding for live sockets on every instance (set by init_app).
    live: LiveSessions = field(init=False)
    #: Checks run on the handshake environ before the session is looked up
    #: (origin, rate limit); each raises AuthError to refuse without a store request.
    gates: list[Callable[[t.Mapping[str, t.Any]], None]] = field(default_factory=list)
    #: Whether the client manager answers the user:/session: rooms from
    #: ``connections`` (REALTIME_REGISTRY_ROOMS), so sockets need not join them.
    registry_rooms: bool = False
    #: Endpoints that never create a session record: the same set object as
    #: ``Realtime.exempt_endpoints`` (given by init_app), shared by the extension's apps.
    exempt_endpoints: set[str] = field(default_factory=set)


def get_state(app: Flask | None = None) -> RealtimeState:
    app = app or current_app
    try:
        return app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "realtime is not set up on this app. Call Realtime(app, socketio) or realtime.init_app(app, socketio)."
        ) from None
