"""The websocket receive path: a limit on each whole message, an unmask that is not per byte, a fair reader.

Under eventlet, python-engineio serves websockets with eventlet's own
``RFC6455WebSocket``, which has flaws any client can use, before it sends a
cookie or a Socket.IO CONNECT:

- it unmasks client frames one byte at a time in Python, building a
  ``bytes`` object per payload byte, so a client sending large frames makes
  the worker spend its time there while every other socket waits;
- it limits each *frame* (to ``max_frame_length``, which python-engineio sets
  to ``max_http_buffer_size``, i.e. ``REALTIME_MAX_MESSAGE_BYTES``) but not
  the *message*: a message sent as an endless run of continuation frames is
  buffered without limit, and Engine.IO's own size check only runs on a
  complete message;
- it also speaks the pre-RFC 6455 drafts (hixie-75/76), whose reader buffers
  everything up to a ``0xFF`` byte, with no limit at all;
- like every eventlet socket, it lets other green threads run only when a
  read would block, so a client that keeps data waiting holds the worker.

:func:`eventlet_websocket_app` returns python-engineio's eventlet
``WebSocketWSGI`` made into this project's class, which
:mod:`realtime.transport` installs for this server only (through
``server._async["websocket"]``; nothing of eventlet's is changed for other
users). Its websocket is eventlet's with the frame reader replaced: a
message whose frames add up to more than ``max_frame_length`` closes the
connection with 1009 (Message Too Big) before the frame that would pass the
limit is read; the payload is unmasked as one integer XOR (:func:`unmask`);
reads go through one small read-ahead buffer instead of three ``recv``
calls per frame; the reader lets other green threads run every few frames
even when the client keeps data waiting (eventlet switches only when a read
would block); text that is not UTF-8 closes with 1007, as RFC 6455 asks.
The drafts are refused (HTTP 400); every browser speaks RFC 6455.

Under the threading and gevent workers python-engineio uses simple-websocket,
which has a message limit (``max_message_size``) that python-engineio does not
set; :func:`limited_websocket_factory` sets it.

eventlet is imported only when the eventlet class is built, which happens
only for a server in ``async_mode="eventlet"``.
"""

from __future__ import annotations

import functools
import logging
import typing as t

logger = logging.getLogger(__name__)

#: Frames a connection's reader takes in a row before it lets the other green threads run. eventlet
#: switches only when a read would block, so a client that keeps data waiting (complete messages
#: as fast as the worker takes them) would otherwise hold the worker: no other socket served, and
#: gunicorn's heartbeat missed until it kills the worker. A frame larger than READ_AHEAD ends the
#: turn at once.
FRAMES_PER_TURN = 8

#: Bytes asked of the socket per read when a frame needs more than is buffered. A small client
#: frame (header, mask and payload) then arrives in one ``recv``; at most this much is kept
#: read ahead between frames (nothing, once a client stops sending).
READ_AHEAD = 4096


def unmask(data: bytes, mask: bytes) -> bytes:
    """``data`` XORed with the 4-byte ``mask`` repeated (RFC 6455 section 5.3), as one integer operation."""
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def limited_websocket_factory(factory: t.Callable[..., t.Any], async_mode: str | None) -> t.Callable[..., t.Any]:
    """Engine.IO's websocket factory ``factory(handler, server)`` with a limit on whole messages.

    Returns this project's eventlet class, or a factory that configures
    simple-websocket's limit, or ``factory`` itself (with a warning) for a
    driver it does not know.
    """
    if async_mode == "eventlet":
        from engineio.async_drivers import eventlet as engineio_eventlet

        if factory is engineio_eventlet.WebSocketWSGI:
            return eventlet_websocket_app()
    elif _is_simple_websocket_wsgi(factory):
        return functools.partial(_simple_websocket_app, factory)
    logger.warning(
        "Websocket messages sent in many frames are not limited in size here: python-engineio's websocket"
        " driver for async_mode %r is not the one realtime knows (%s). Check the python-engineio version.",
        async_mode,
        getattr(factory, "__qualname__", factory),
    )
    return factory


def _is_simple_websocket_wsgi(factory: t.Any) -> bool:
    try:
        from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
    except ImportError:
        return False
    return isinstance(factory, type) and issubclass(factory, SimpleWebSocketWSGI)


def _simple_websocket_app(factory: t.Callable[..., t.Any], handler: t.Any, server: t.Any) -> t.Any:
    app = factory(handler, server)
    # python-engineio hands these to simple_websocket.Server for each connection; over the
    # limit it closes with 1009.
    app.server_args.setdefault("max_message_size", int(server.max_http_buffer_size))
    return app


@functools.cache
def eventlet_websocket_app() -> type:
    """python-engineio's eventlet ``WebSocketWSGI``, serving :class:`LimitedWebSocket` (built once, on first use)."""
    from engineio.async_drivers.eventlet import WebSocketWSGI
    from eventlet import sleep
    from eventlet.websocket import ConnectionClosedError, FailedConnectionError, RFC6455WebSocket

    class LimitedMessage(RFC6455WebSocket.Message):
        """eventlet's message under assembly, counting its bytes; text that is not UTF-8 fails with 1007."""

        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            self.size = 0

        def push(self, data: bytes, final: bool = False) -> None:
            self.size += len(data)
            super().push(data, final)

        def getvalue(self) -> t.Any:
            try:
                return super().getvalue()
            except UnicodeDecodeError:
                # eventlet lets this escape as an internal error (close code 1011).
                raise FailedConnectionError(1007, "Text data must be valid UTF-8") from None

    class LimitedWebSocket(RFC6455WebSocket):
        """eventlet's RFC 6455 websocket whose frame reader limits whole messages and unmasks in one pass.

        ``max_frame_length`` bounds the message: the frames of one message
        together, and so each frame. The reader yields to other green threads
        at least every :data:`FRAMES_PER_TURN` frames. Everything else
        (control frames, close handshake, sending, compression) is eventlet's.
        """

        Message = LimitedMessage
        _frames_this_turn = 0

        def _get_bytes(self, numbytes: int) -> bytes:
            # self._buf is the pre-RFC 6455 reader's buffer, unused by this class: the read-ahead.
            buffered = self._buf
            if len(buffered) < numbytes:
                chunks = [buffered]
                have = len(buffered)
                while have < numbytes:
                    chunk = self.socket.recv(max(numbytes - have, READ_AHEAD))
                    if not chunk:
                        raise ConnectionClosedError()
                    chunks.append(chunk)
                    have += len(chunk)
                buffered = b"".join(chunks)
            self._buf = buffered[numbytes:]
            return buffered[:numbytes]

        def _recv_frame(self, message: t.Any = None) -> t.Any:
            # The checks and their order are eventlet's (RFC 6455 section 5.2).
            first, second = self._get_bytes(2)
            finished = bool(first & 0x80)
            rsv1 = first & 0x40
            if first & 0x30 or (rsv1 and "permessage-deflate" not in self.extensions):
                raise FailedConnectionError(
                    1002, "RSV1, RSV2, RSV3: MUST be 0 unless an extension is negotiated that defines them."
                )
            opcode = first & 0x0F
            if opcode not in (0, 1, 2, 8, 9, 0xA):
                raise FailedConnectionError(1002, "Unknown opcode received.")
            masked = bool(second & 0x80)
            if not masked and not self.client:
                raise FailedConnectionError(1002, "A client MUST mask all frames that it sends to the server")
            length = second & 0x7F
            control = bool(opcode & 8)
            if control:
                if not finished:
                    raise FailedConnectionError(1002, "Control frames must not be fragmented.")
                if length > 125:
                    raise FailedConnectionError(1002, "Control frames MUST have a payload of 125 bytes or less")
            elif opcode and message:
                raise FailedConnectionError(1002, "Received a non-continuation opcode within fragmented message.")
            elif not opcode and not message:
                raise FailedConnectionError(1002, "Received continuation opcode with no previous fragments received.")
            if length == 126:
                length = int.from_bytes(self._get_bytes(2), "big")
            elif length == 127:
                length = int.from_bytes(self._get_bytes(8), "big")
            if not control:
                self._check_message_size((message.size if message else 0) + length)
            mask = self._get_bytes(4) if masked else b""
            payload = self._get_bytes(length) if length else b""
            if masked:
                payload = unmask(payload, mask)
            if not message or control:
                message = self.Message(
                    opcode,
                    self.max_frame_length,
                    decoder=self.UTF8Decoder() if opcode == 1 else None,
                    decompressor=self._get_permessage_deflate_dec(rsv1),
                )
            message.push(payload, final=finished)
            self._frames_this_turn += 1
            if self._frames_this_turn >= FRAMES_PER_TURN or length > READ_AHEAD:
                self._frames_this_turn = 0
                sleep(0)
            return message

        def _check_message_size(self, size: int) -> None:
            if size > self.max_frame_length:
                logger.info(
                    "Closing a websocket from %s: a message of more than %d bytes (REALTIME_MAX_MESSAGE_BYTES)",
                    self.environ.get("REMOTE_ADDR", "?"),
                    self.max_frame_length,
                )
                raise FailedConnectionError(1009, f"Message over {self.max_frame_length} bytes")

    class LimitedWebSocketWSGI(WebSocketWSGI):
        """python-engineio's eventlet websocket app, serving :class:`LimitedWebSocket` and RFC 6455 only."""

        def __init__(self, handler: t.Callable[[t.Any], t.Any], server: t.Any) -> None:
            super().__init__(handler, server)
            # The drafts' reader buffers up to a 0xFF byte without limit.
            self.support_legacy_versions = False

        def _handle_hybi_request(self, environ: dict[str, t.Any]) -> LimitedWebSocket:
            # eventlet answers the handshake and builds its own websocket here; ours takes its place.
            ws = super()._handle_hybi_request(environ)
            return LimitedWebSocket(
                ws.socket,
                environ,
                ws.version,
                protocol=ws.protocol,
                extensions=ws.extensions,
                max_frame_length=ws.max_frame_length,
            )

    return LimitedWebSocketWSGI
