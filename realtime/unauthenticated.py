"""Engine.IO sessions that have not authenticated: closed soon, kept small, few per client address.

An Engine.IO session exists from the handshake on, before any Socket.IO
CONNECT, and python-socketio keeps it (with its handshake environ) for as long
as the client answers pings; node's server closes it after ``connectTimeout``,
python-socketio has no such limit. Anyone can open such sessions without a
cookie, each holding every header of its handshake. So, per server:

- a session without an accepted CONNECT on any namespace within
  ``REALTIME_CONNECT_TIMEOUT`` seconds is closed;
- a session whose CONNECT was refused, and that has no accepted namespace,
  is closed once the refusal (the ``CONNECT_ERROR`` with its reason) has
  left its queue (at once on a websocket, at the next poll on polling) and
  the client has had :data:`REFUSAL_GRACE` to close it itself, as clients do;
- the handshake environ keeps only the headers the app reads
  (:data:`KEPT_HEADERS` and ``REALTIME_HANDSHAKE_HEADERS``);
- a client address holds at most ``REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS``
  such sessions; another handshake from it is answered 429 before Engine.IO
  creates a session. The address is the refused-connect limiter's
  (:func:`realtime.ratelimit.client_key`, honouring ``REALTIME_TRUSTED_PROXIES``).

Every CONNECT packet also asks the guard first (``check_namespace``), so a
namespace added while the server runs, or one listed in
``SocketIO(namespaces=[...])`` without handlers, gets the guard before
python-socketio decides, even over a websocket opened before it existed.

The hooks are Engine.IO's own event handlers (``eio.on``), which
python-socketio registers on its server: ours run around them. Closing uses
the Engine.IO socket's ``close(wait=False)`` and reads its send ``queue``
(python-engineio 4.x), because ``Server.disconnect`` waits for a polling
client to fetch the close packet, which an attacker never does.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from socketio import packet as sio_packet

from . import _wsgi
from .transport import MalformedReport, is_malformed_socketio_message
from .errors import ConfigError

if t.TYPE_CHECKING:
    from flask import Flask

    from .state import RealtimeState

logger = logging.getLogger(__name__)

#: Handshake headers a socket keeps for its life: what Flask, Flask-SocketIO,
#: the guard (cookie, origin, client address) and the websocket upgrade read.
KEPT_HEADERS = frozenset(
    {
        "HTTP_COOKIE",
        "HTTP_HOST",
        "HTTP_ORIGIN",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT_LANGUAGE",
        "HTTP_AUTHORIZATION",
        "HTTP_FORWARDED",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_FORWARDED_PROTO",
        "HTTP_X_FORWARDED_HOST",
        "HTTP_X_FORWARDED_PORT",
        "HTTP_X_FORWARDED_PREFIX",
        "HTTP_X_REAL_IP",
        "HTTP_X_REQUEST_ID",
        "HTTP_CONNECTION",
        "HTTP_UPGRADE",
        "HTTP_SEC_WEBSOCKET_KEY",
        "HTTP_SEC_WEBSOCKET_VERSION",
        "HTTP_SEC_WEBSOCKET_PROTOCOL",
        "HTTP_SEC_WEBSOCKET_EXTENSIONS",
    }
)

#: What an over-the-cap handshake gets.
TOO_MANY = "too_many_unauthenticated"

#: How often a refused session's queue is looked at until its refusal has left.
_DELIVERY_CHECK = 0.05

#: Seconds a refused session is left to its client, which closes it itself at once
#: (the JS and Python clients do), before the server does: python-engineio's
#: client can hang for 30 s, or leave an upgrade's socket open, when both close
#: at the same moment.
REFUSAL_GRACE = 1.0

#: A Socket.IO packet's encoding starts with its type; CONNECT is 0.
_CONNECT_PREFIX = str(sio_packet.CONNECT)


def header_key(name: str) -> str:
    """``X-Request-Start`` -> ``HTTP_X_REQUEST_START`` (the WSGI environ key of a header)."""
    return "HTTP_" + name.strip().upper().replace("-", "_")


def trim_environ(environ: dict[str, t.Any], kept: frozenset[str] = KEPT_HEADERS) -> None:
    """Drop, in place, every request header of ``environ`` not in ``kept`` (server keys stay)."""
    for key in [key for key in environ if key.startswith("HTTP_") and key not in kept]:
        del environ[key]


@dataclass
class _Session:
    address: str
    #: CONNECT packets being decided right now (the session lookup takes a while).
    connecting: int = 0


class UnauthenticatedSessions:
    """The Engine.IO sessions of one Socket.IO server that have no accepted namespace yet.

    :param server: the python-socketio server.
    :param timeout: seconds a session may stay without an accepted CONNECT.
    :param per_address: sessions one client address may hold at once; 0 for no cap.
    :param address_of: the client address of a handshake environ.
    :param check_namespace: called with the namespace of each CONNECT packet
        before python-socketio sees it; returns ``None`` or the refusal data
        for the ``CONNECT_ERROR`` (``{"message": ..., "data": {...}}``).
    :param kept_headers: the handshake headers a session keeps.
    """

    def __init__(
        self,
        server: t.Any,
        *,
        timeout: float,
        per_address: int,
        address_of: Callable[[Mapping[str, t.Any]], str],
        check_namespace: Callable[[str], dict[str, t.Any] | None],
        kept_headers: frozenset[str] = KEPT_HEADERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.per_address = per_address
        self.address_of = address_of
        self.check_namespace = check_namespace
        self.kept_headers = kept_headers
        self.clock = clock
        self.malformed = MalformedReport(clock)
        self._sessions: dict[str, _Session] = {}
        #: Sessions waiting for their deadline, oldest (earliest deadline) first.
        self._deadlines: OrderedDict[str, float] = OrderedDict()
        #: Sessions to close: eio sid -> (the earliest moment to close once the
        #: refusal has left the queue, the latest moment to close regardless).
        self._closing: dict[str, tuple[float, float]] = {}
        self._per_address: Counter[str] = Counter()
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._wake: t.Any = None
        self._handlers: dict[str, Callable[..., t.Any]] = {}

    # -- installing ------------------------------------------------------------

    def install(self) -> None:
        """Run around python-socketio's Engine.IO handlers (connect, message, disconnect)."""
        eio = self.server.eio
        self._handlers = {event: eio.handlers[event] for event in ("connect", "message", "disconnect")}
        eio.on("connect", self.on_open)
        eio.on("message", self.on_message)
        eio.on("disconnect", self.on_close)

    def __len__(self) -> int:
        return len(self._sessions)

    def admits(self, address: str) -> bool:
        """Whether a new handshake from ``address`` may create a session (costs nothing)."""
        if not self.per_address or self._per_address.get(address, 0) < self.per_address:
            return True
        if address not in self._warned:
            self._warned.add(address)
            logger.warning(
                "Client %s holds %d Engine.IO sessions without an accepted Socket.IO connect"
                " (REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS); its new handshakes are refused with 429"
                " until some connect or close.",
                address,
                self.per_address,
            )
        return False

    # -- Engine.IO events ------------------------------------------------------

    def on_open(self, eio_sid: str, environ: dict[str, t.Any]) -> t.Any:
        result = self._handlers["connect"](eio_sid, environ)
        if result is not None and result is not True:
            return result  # refused by the handler: no session
        address = self.address_of(environ)
        trim_environ(environ, self.kept_headers)
        with self._lock:
            self._sessions[eio_sid] = _Session(address)
            self._deadlines[eio_sid] = self.clock() + self.timeout
            self._per_address[address] += 1
            first = len(self._deadlines) == 1
        self._start_sweeper()
        if first:
            self._wake.set()
        return result

    def on_message(self, eio_sid: str, data: t.Any) -> t.Any:
        try:
            return self._on_message(eio_sid, data)
        except ValueError:
            # python-engineio would log a traceback per message, and any client
            # can send them as fast as it likes: dropped, one line a minute.
            if not is_malformed_socketio_message(self.server.packet_class, data):
                raise
            self.malformed.report(self._address(eio_sid))
            return None

    def _address(self, eio_sid: str) -> str:
        environ = self.server.environ.get(eio_sid)
        return self.address_of(environ) if environ is not None else "an unknown address"

    def _on_message(self, eio_sid: str, data: t.Any) -> t.Any:
        handle = self._handlers["message"]
        if not (isinstance(data, str) and data.startswith(_CONNECT_PREFIX)):
            return handle(eio_sid, data)
        try:
            namespace = self.server.packet_class(encoded_packet=data).namespace or "/"
        except Exception:  # noqa: BLE001 - python-socketio decodes it again and reports it
            return handle(eio_sid, data)
        refusal = self.check_namespace(namespace)
        if refusal is not None:
            refused = self.server.packet_class(sio_packet.CONNECT_ERROR, data=refusal, namespace=namespace)
            self.server.eio.send(eio_sid, refused.encode())
            self._settle(eio_sid, namespace)
            return None
        session = self._sessions.get(eio_sid)
        if session is None:  # authenticated already: not ours to watch
            return handle(eio_sid, data)
        session.connecting += 1
        try:
            return handle(eio_sid, data)
        finally:
            session.connecting -= 1
            self._settle(eio_sid, namespace)

    def on_close(self, eio_sid: str, *args: t.Any) -> t.Any:
        try:
            return self._handlers["disconnect"](eio_sid, *args)
        finally:
            self._forget(eio_sid)

    # -- decisions -------------------------------------------------------------

    def _settle(self, eio_sid: str, namespace: str) -> None:
        """After a CONNECT: an accepted one ends the watch; a refusal with nothing accepted closes the session."""
        session = self._sessions.get(eio_sid)
        if session is None:
            return
        manager = self.server.manager
        sid = manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is not None and manager.is_connected(sid, namespace):
            self._forget(eio_sid)
        elif session.connecting == 0:
            now = self.clock()
            with self._lock:
                self._closing[eio_sid] = (now + REFUSAL_GRACE, now + max(self.timeout, REFUSAL_GRACE))
            self._wake.set()

    def _forget(self, eio_sid: str) -> None:
        with self._lock:
            session = self._sessions.pop(eio_sid, None)
            if session is None:
                return
            self._deadlines.pop(eio_sid, None)
            self._closing.pop(eio_sid, None)
            left = self._per_address[session.address] - 1
            if left > 0:
                self._per_address[session.address] = left
            else:
                del self._per_address[session.address]
            if left < self.per_address:
                self._warned.discard(session.address)

    # -- the sweeper -------------------------------------------------------------

    def _start_sweeper(self) -> None:
        if self._wake is None:
            self._wake = self.server.eio.create_event()
            self.server.start_background_task(self._sweep)

    def _sweep(self) -> None:
        while True:
            try:
                wait = self.sweep_once()
            except Exception:  # noqa: BLE001 - the sweeper must outlive any one session
                logger.exception("Closing unauthenticated Engine.IO sessions failed; trying again")
                wait = 1.0
            self._wake.wait(wait)
            self._wake.clear()

    def sweep_once(self) -> float | None:
        """Close what is due; return the seconds until something may be due (``None``: nothing is)."""
        now = self.clock()
        due: list[str] = []
        wait: float | None = None
        with self._lock:
            while self._deadlines:
                eio_sid, deadline = next(iter(self._deadlines.items()))
                if deadline > now:
                    wait = deadline - now
                    break
                del self._deadlines[eio_sid]
                self._closing.setdefault(eio_sid, (now, now))
            closing = list(self._closing.items())
        for eio_sid, (earliest, latest) in closing:
            session = self._sessions.get(eio_sid)
            if session is None or session.connecting:
                continue  # gone, or a CONNECT is being decided: _settle decides again after it
            if now >= latest or (now >= earliest and self._delivered(eio_sid)):
                due.append(eio_sid)
        for eio_sid in due:
            self._close(eio_sid)
        with self._lock:
            if self._closing:
                wait = _DELIVERY_CHECK if wait is None else min(wait, _DELIVERY_CHECK)
        return wait

    def _delivered(self, eio_sid: str) -> bool:
        socket = self.server.eio.sockets.get(eio_sid)
        return socket is None or socket.closed or socket.queue.qsize() == 0

    def _close(self, eio_sid: str) -> None:
        eio = self.server.eio
        socket = eio.sockets.get(eio_sid)
        logger.debug("Closing an Engine.IO session without an accepted Socket.IO connect")
        if socket is not None and not socket.closed:
            # abort: the transport just ends, without a CLOSE packet (a polling
            # client's next request gets 400); a python-engineio client closing
            # at the same moment can wait 30 s for its writer after a CLOSE.
            socket.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)
        self._forget(eio_sid)


class HandshakeCap:
    """WSGI middleware: a handshake from an address at its cap of unauthenticated sessions gets 429."""

    def __init__(self, wsgi_app: t.Any, sessions: UnauthenticatedSessions, path: str) -> None:
        self.wsgi_app = _wsgi.direct_call(wsgi_app)
        self.sessions = sessions
        self.path = path

    def __call__(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        if (
            environ.get("REQUEST_METHOD") == "GET"
            and _wsgi.is_socketio_request(environ, self.path)
            and "sid" not in parse_qs(environ.get("QUERY_STRING", ""))
            and not self.sessions.admits(self.sessions.address_of(environ))
        ):
            body = (
                b'{"message": "Too many connections from your address that have not authenticated; close or'
                b' connect them first", "reason": "' + TOO_MANY.encode() + b'"}'
            )
            start_response(
                "429 Too Many Requests",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Retry-After", str(max(1, round(self.sessions.timeout)))),
                ],
            )
            return [body]
        return self.wsgi_app(environ, start_response)


def settings_from_config(config: Mapping[str, t.Any]) -> tuple[float, int, frozenset[str]]:
    """``(timeout, per_address, kept_headers)`` from the configuration (its types checked by config.validate)."""
    timeout = float(config["REALTIME_CONNECT_TIMEOUT"])
    if timeout <= 0:
        raise ConfigError(
            f"REALTIME_CONNECT_TIMEOUT={timeout:g} cannot work: an unauthenticated socket would be closed at once."
            " Set it to more than 0 seconds (e.g. 10)."
        )
    extra = config["REALTIME_HANDSHAKE_HEADERS"]
    names: Iterable[t.Any] = extra.split(",") if isinstance(extra, str) else extra
    if not all(isinstance(name, str) for name in names):
        raise ConfigError(
            f"REALTIME_HANDSHAKE_HEADERS={extra!r} is not a list of header names. Set a list of strings or a"
            " comma-separated string, e.g. 'X-Client-Version, X-Device'."
        )
    kept = KEPT_HEADERS | {header_key(name) for name in names if name.strip()}
    return timeout, int(config["REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS"]), kept


def init_app(app: Flask, state: RealtimeState, check_namespace: Callable[[str], dict[str, t.Any] | None]) -> None:
    """Watch the server's unauthenticated sessions and cap them per address (after ratelimit.init_app)."""
    timeout, per_address, kept = settings_from_config(app.config)
    sessions = UnauthenticatedSessions(
        state.socketio.server,
        timeout=timeout,
        per_address=per_address,
        address_of=app.extensions["realtime.ratelimit"].key,
        check_namespace=check_namespace,
        kept_headers=kept,
    )
    sessions.install()
    app.extensions["realtime.unauthenticated"] = sessions
    path = _wsgi.socketio_path(state.socketio)
    app.wsgi_app = _wsgi.direct_call(HandshakeCap(app.wsgi_app, sessions, path))  # type: ignore[method-assign]
