"""WSGI and Engine.IO plumbing shared by the guard, the hardening layers and the performance options.

Private: ``realtime.perf`` re-exports these names under their old paths.
"""

from __future__ import annotations

import types
import typing as t
from collections.abc import Callable, Mapping

if t.TYPE_CHECKING:
    from flask_socketio import SocketIO

#: Where Flask-SocketIO keeps a socket's managed session in the handshake environ.
SAVED_SESSION_KEY = "saved_session"

WSGIApp = Callable[[dict[str, t.Any], Callable[..., t.Any]], t.Iterable[bytes]]


def socketio_path(socketio: SocketIO) -> str:
    """``/socket.io/`` or the configured ``socketio_path``, with both slashes."""
    return "/" + str(socketio.server_options.get("socketio_path", "socket.io")).strip("/") + "/"


def is_socketio_request(environ: Mapping[str, t.Any], path: str) -> bool:
    """Whether ``environ`` is an Engine.IO request (``path`` as from :func:`socketio_path`)."""
    path_info = environ.get("PATH_INFO", "")
    return path_info == path.rstrip("/") or path_info.startswith(path)


def direct_call(wsgi_app: t.Any) -> t.Any:
    """``wsgi_app`` in a form a Python caller calls without a C-level call: its bound ``__call__`` if it is an object.

    CPython 3.11+ runs a call to a Python function or bound method inside the
    caller's interpreter loop, but calling an object goes through C (its
    type's call slot). A websocket's reader greenlet keeps every C level of
    its upgrade request's call chain on its saved stack for the socket's
    life; the call itself behaves the same either way. Every middleware of
    this project is installed through it.
    """
    if isinstance(wsgi_app, types.FunctionType | types.MethodType):
        return wsgi_app
    call = getattr(type(wsgi_app), "__call__", None)  # noqa: B004 - the class's method, not whether it is callable
    if isinstance(call, types.FunctionType):
        return wsgi_app.__call__
    return wsgi_app


def is_websocket_upgrade(environ: Mapping[str, t.Any]) -> bool:
    return str(environ.get("HTTP_UPGRADE", "")).lower() == "websocket"
