"""Closing a websocket cleanly when a client sends a frame Engine.IO cannot decode.

python-engineio (4.x) decodes each websocket frame outside its error
handling: an empty text frame, or one whose first character is not a packet
type, raises ``ValueError`` out of the WSGI application. Under gunicorn's
eventlet worker that becomes "Error handling request" with a traceback, an
HTTP 500 written into the already-upgraded connection, and an Engine.IO
session whose disconnect handlers only run when its ping times out.

Any client can send such a frame, so the websocket Engine.IO reads from is
wrapped: a frame that does not decode ends the connection as if the client
had closed it (``wait()`` returns ``None``), and Engine.IO runs its normal
close path. The wrapper relies on the server's ``_async["websocket"]``
factory (python-engineio 4.x); if that is missing, nothing is wrapped and a
warning says so.

Long-polling has a worse flaw: a POST that Engine.IO refuses (a body over
``REALTIME_MAX_MESSAGE_BYTES``, or a packet a client never sends, such as
``6``) makes it close the session and wait for the close packet to be
polled, which never happens, so the request hangs forever. Anyone can do
this with two requests and no cookie, and each costs the worker a request
slot (``--worker-connections``) for good. :class:`PollingBodyCheck` answers
such POSTs itself with 400 (413 for the size) before Engine.IO sees them.
It reads their body only for a session Engine.IO has: a POST naming a
made-up ``sid`` is refused at once, so announcing a body and never sending
it costs nothing (the body read itself has a deadline, see
:mod:`realtime.body_deadline`).
"""

from __future__ import annotations

import io
import json
import logging
import time
import typing as t
from urllib.parse import parse_qs

from engineio import packet, payload
from socketio import packet as sio_packet

from . import _wsgi, perf, websocket

if t.TYPE_CHECKING:
    from flask import Flask

    from .state import RealtimeState

logger = logging.getLogger(__name__)


def is_decodable(frame: object) -> bool:
    """Whether Engine.IO can decode ``frame`` (what its websocket loop would do with it)."""
    if isinstance(frame, str) and "0" <= frame[:1] <= "9":
        # Every frame a client sends in normal use: a packet type digit, then
        # anything (Engine.IO keeps an undecodable rest as text). Decided
        # without building the packet that Engine.IO builds again next.
        return True
    try:
        packet.Packet(encoded_packet=frame)
    except (ValueError, IndexError, TypeError):
        return False
    return True


class CheckedWebSocket:
    """Engine.IO's websocket app for one connection, and the websocket its handler gets.

    Engine.IO's handler receives this object instead of the driver's
    websocket: :meth:`wait` ends the connection instead of passing on a frame
    that does not decode; :meth:`send`, :meth:`close` and :attr:`socket` are
    the driver's. It is one small object per connection because it lives as
    long as the socket, and it deliberately has no ``__getattr__`` fallback:
    Engine.IO probes the websocket with ``hasattr`` for attributes the
    drivers lack, and a Python ``__getattr__`` that raises for those would
    leave an exception's traceback holding the handler's frame for the
    socket's life (about 0.3 KiB each). engineio and eventlet call its bound
    methods, which keeps their calls in the interpreter loop (see
    :func:`realtime._wsgi.direct_call`). It also puts back ``gunicorn.socket``
    in the environ if :class:`~realtime.perf.ShareSocketInput` moved it aside.
    """

    __slots__ = ("handler", "websocket_app", "ws")

    def __init__(self, factory: t.Callable[..., t.Any], handler: t.Callable[[t.Any], t.Any], server: t.Any) -> None:
        self.handler = handler
        self.ws: t.Any = None
        self.websocket_app = _wsgi.direct_call(factory(self.handle, server))

    def serve(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        perf.restore_gunicorn_socket(environ)
        return self.websocket_app(environ, start_response)

    def handle(self, ws: t.Any) -> t.Any:
        self.ws = ws
        return self.handler(self)

    def wait(self) -> t.Any:
        frame = self.ws.wait()
        if frame is None or is_decodable(frame):
            return frame
        logger.info("Closing a websocket: the client sent a frame that is not an Engine.IO packet")
        return None

    def send(self, message: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self.ws.send(message, *args, **kwargs)

    def close(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self.ws.close(*args, **kwargs)

    @property
    def socket(self) -> t.Any:
        """The driver's network socket (eventlet's websocket has one), for Engine.IO's read timeout; else ``None``."""
        return getattr(self.ws, "socket", None)


def checked_websocket_factory(factory: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """Wrap Engine.IO's websocket factory ``factory(handler, server)`` so handlers get a :class:`CheckedWebSocket`."""

    def make(handler: t.Callable[[t.Any], t.Any], server: t.Any) -> t.Any:
        return CheckedWebSocket(factory, handler, server).serve

    make.wrapped = factory  # type: ignore[attr-defined]
    return make


def init_app(app: Flask, state: RealtimeState) -> None:
    """Check long-polling POSTs before Engine.IO does, and wrap its websockets (limited: :mod:`realtime.websocket`)."""
    eio = state.socketio.server.eio
    path = _wsgi.socketio_path(state.socketio).rstrip("/")
    app.wsgi_app = _wsgi.direct_call(  # type: ignore[method-assign]
        PollingBodyCheck(app.wsgi_app, path, int(eio.max_http_buffer_size), eio.sockets)
    )

    drivers = getattr(eio, "_async", None)
    if not isinstance(drivers, dict) or "websocket" not in drivers:
        logger.warning(
            "python-engineio has no _async['websocket'] factory here; malformed websocket frames will not be"
            " closed cleanly (they make the worker log a 500). Check the python-engineio version (4.x expected)."
        )
        return
    factory = drivers["websocket"]
    if factory is None or hasattr(factory, "wrapped"):
        return  # no websocket support in this async mode, or wrapped already
    factory = websocket.limited_websocket_factory(factory, eio.async_mode)
    # A copy: the driver module's own dict is shared by every server in the process.
    eio._async = {**drivers, "websocket": checked_websocket_factory(factory)}


#: Socket.IO packet types a client sends (CONNECT_ERROR only ever comes from a server).
CLIENT_SOCKETIO_PACKETS = frozenset(
    {
        sio_packet.CONNECT,
        sio_packet.DISCONNECT,
        sio_packet.EVENT,
        sio_packet.ACK,
        sio_packet.BINARY_EVENT,
        sio_packet.BINARY_ACK,
    }
)


def is_malformed_socketio_message(packet_class: type, data: object) -> bool:
    """Whether python-socketio's ``ValueError`` on ``data`` was the client's fault, not an app handler's.

    Asked only after the message handler raised, so a good message costs
    nothing: a message that does not decode, a packet type clients never
    send, or a binary packet header (python-socketio raises on those only
    when the socket is not connected to the namespace; the handler they
    lead to runs with the attachments, in a later message).
    """
    try:
        decoded = packet_class(encoded_packet=data)
    except (ValueError, TypeError, IndexError, AttributeError):
        return True
    return decoded.packet_type not in CLIENT_SOCKETIO_PACKETS or decoded.packet_type in (
        sio_packet.BINARY_EVENT,
        sio_packet.BINARY_ACK,
    )


class MalformedReport:
    """One log line a minute about dropped packets Socket.IO cannot decode, with their count."""

    INTERVAL = 60.0

    def __init__(self, clock: t.Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.count = 0
        self.next_line = 0.0

    def report(self, address: str) -> None:
        self.count += 1
        now = self.clock()
        if now < self.next_line:
            return
        logger.warning(
            "Dropped %d packet(s) Socket.IO cannot decode (latest from %s); at most one such line a minute",
            self.count,
            address,
        )
        self.count = 0
        self.next_line = now + self.INTERVAL


#: Packet types a client sends over long-polling (Engine.IO v4): CLOSE, PONG, MESSAGE, UPGRADE.
CLIENT_POLLING_PACKETS = frozenset({packet.CLOSE, packet.PONG, packet.MESSAGE, packet.UPGRADE})


def polling_body_problem(body: bytes) -> str | None:
    """Why Engine.IO must not see this POST body, or ``None`` when it is fine."""
    try:
        text = body.decode("utf-8")
        packets = payload.Payload(encoded_payload=text).packets
    except (UnicodeDecodeError, ValueError, IndexError, TypeError, KeyError):
        return "not an Engine.IO payload"
    if any(p.packet_type not in CLIENT_POLLING_PACKETS for p in packets):
        return "a packet type clients do not send"
    return None


class PollingBodyCheck:
    """WSGI middleware in front of Engine.IO: refuses the long-polling POSTs that would hang it."""

    def __init__(self, wsgi_app: t.Any, path: str, max_bytes: int, sessions: t.Container[str]) -> None:
        self.wsgi_app = _wsgi.direct_call(wsgi_app)
        self.path = path
        self.max_bytes = max_bytes
        #: Engine.IO's sessions of this process (``eio.sockets``), by sid.
        self.sessions = sessions

    def __call__(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").startswith(self.path):
            query = parse_qs(environ.get("QUERY_STRING", ""))
            if "sid" in query and query.get("transport", ["polling"])[0] == "polling":
                refusal = self._check(environ, query["sid"][0])
                if refusal is not None:
                    status, message = refusal
                    logger.info("Refused a long-polling POST: %s", message)
                    body = json.dumps(message).encode()
                    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
                    return [body]
        return self.wsgi_app(environ, start_response)

    def _check(self, environ: dict[str, t.Any], sid: str) -> tuple[str, str] | None:
        if sid not in self.sessions:
            return "400 BAD REQUEST", "no such Engine.IO session"  # Engine.IO's answer too, but before the body
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return "400 BAD REQUEST", "invalid Content-Length"
        if length > self.max_bytes:
            return "413 PAYLOAD TOO LARGE", f"payload over {self.max_bytes} bytes (REALTIME_MAX_MESSAGE_BYTES)"
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        problem = polling_body_problem(body)
        if problem is not None:
            return "400 BAD REQUEST", problem
        environ["wsgi.input"] = io.BytesIO(body)  # Engine.IO reads it again
        return None
