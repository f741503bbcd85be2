"""A deadline on every request body: a client that never sends its body cannot hold a connection.

Servers hand the app ``wsgi.input`` as a blocking stream: a request that
announces ``Content-Length: 100`` and sends nothing holds whoever reads it
(a form view, Engine.IO's long-polling POST, :mod:`realtime.transport`'s
body check) for as long as the client keeps the connection open, and with it
one of the worker's ``--worker-connections``. :class:`BodyDeadline` gives
each request with a body ``REALTIME_BODY_TIMEOUT`` seconds from its arrival
to deliver it: every read of ``wsgi.input`` is bounded by the time left, and
a request whose body is late is answered ``408 Request Timeout``, logged,
and its connection closed (the rest of the body is never read).

How a blocking read is cut short depends on the async mode, so the bound
is chosen once, from Flask-SocketIO's ``async_mode``:

- eventlet and gevent: the library's ``Timeout`` around each read (imported
  here only in that mode), which interrupts the read wherever it waits;
- threads: the connection socket's timeout, set to the time left before each
  read (``gunicorn.socket`` or ``werkzeug.socket``), with reads split into
  single ``recv``s where the stream allows (``read1``, werkzeug's server).
  A stream without ``read1`` (gunicorn's threaded workers) can be kept
  reading past the deadline by bytes that trickle in just often enough; the
  green modes, which the Procfile runs, have no such slack.
"""

from __future__ import annotations

import logging
import socket
import time
import typing as t
from collections.abc import Callable, Iterator

from werkzeug.exceptions import RequestTimeout

from . import _wsgi
from .errors import ConfigError

if t.TYPE_CHECKING:
    from flask import Flask

    from .state import RealtimeState

logger = logging.getLogger(__name__)

#: Where servers put the connection's socket in the environ.
SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")

#: ``bound(seconds, read, argument)``: ``read(argument)``, cut short with :class:`BodyTimeout` after ``seconds``.
Bound = Callable[[float, Callable[[t.Any], t.Any], t.Any, dict[str, t.Any]], t.Any]


class BodyTimeout(RequestTimeout):
    """The request body did not arrive within ``REALTIME_BODY_TIMEOUT`` (an HTTP 408 for whoever catches it)."""


def green_bound(timeout_class: type) -> Bound:
    """Reads bounded by a green ``Timeout`` (eventlet's or gevent's), which interrupts the read itself."""

    def bound(seconds: float, read: Callable[[t.Any], t.Any], argument: t.Any, environ: dict[str, t.Any]) -> t.Any:
        with timeout_class(seconds, BodyTimeout):
            return read(argument)

    return bound


def socket_timeout_bound(
    seconds: float, read: Callable[[t.Any], t.Any], argument: t.Any, environ: dict[str, t.Any]
) -> t.Any:
    """A read bounded by the connection socket's timeout (threads)."""
    sock = connection_socket(environ)
    if sock is None:
        return read(argument)  # a server that does not say: bounded by its own timeout only
    previous = sock.gettimeout()
    sock.settimeout(seconds)
    try:
        return read(argument)
    except TimeoutError:
        raise BodyTimeout() from None
    finally:
        sock.settimeout(previous)


def bound_for(async_mode: str) -> Bound:
    """How reads are cut short in ``async_mode`` (Flask-SocketIO's name for it)."""
    if async_mode == "eventlet":
        import eventlet  # only here: the library never imports eventlet at module level

        return green_bound(eventlet.Timeout)
    if async_mode in ("gevent", "gevent_uwsgi"):
        import gevent

        return green_bound(gevent.Timeout)
    return socket_timeout_bound


def connection_socket(environ: t.Mapping[str, t.Any]) -> socket.socket | None:
    for key in SOCKET_KEYS:
        sock = environ.get(key)
        if sock is not None:
            return t.cast(socket.socket, sock)
    return None


def has_body(environ: t.Mapping[str, t.Any]) -> bool:
    if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
        return True
    return "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()


class DeadlineInput:
    """``wsgi.input`` whose every read ends by ``deadline`` (monotonic seconds), else raises :class:`BodyTimeout`."""

    __slots__ = ("stream", "deadline", "bound", "environ", "timed_out")

    def __init__(self, stream: t.Any, deadline: float, bound: Bound, environ: dict[str, t.Any]) -> None:
        self.stream = stream
        self.deadline = deadline
        self.bound = bound
        self.environ = environ
        self.timed_out = False

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        read1 = getattr(self.stream, "read1", None)
        if read1 is None or size < 0:
            return t.cast(bytes, self._bounded(self.stream.read, size))
        # A buffered socket file (werkzeug's server): one recv per bounded
        # call, so bytes trickling in cannot stretch a read past the deadline.
        chunks = []
        while size > 0 and (chunk := self._bounded(read1, size)):
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def readline(self, size: int | None = -1) -> bytes:
        return t.cast(bytes, self._bounded(self.stream.readline, -1 if size is None else size))

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return t.cast("list[bytes]", self._bounded(self.stream.readlines, -1 if hint is None else hint))

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _bounded(self, read: Callable[[t.Any], t.Any], argument: t.Any) -> t.Any:
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise BodyTimeout()
            return self.bound(left, read, argument, self.environ)
        except BodyTimeout:
            self.timed_out = True
            raise


class BodyDeadline:
    """WSGI middleware: a request with a body has ``timeout`` seconds to deliver it, else a 408 and a close."""

    def __init__(self, wsgi_app: t.Any, timeout: float, bound: Bound) -> None:
        self.wsgi_app = _wsgi.direct_call(wsgi_app)
        self.timeout = timeout
        self.bound = bound

    def __call__(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        if not has_body(environ):
            return self.wsgi_app(environ, start_response)
        body = DeadlineInput(environ["wsgi.input"], time.monotonic() + self.timeout, self.bound, environ)
        environ["wsgi.input"] = body
        try:
            result = self.wsgi_app(environ, start_response)
        except Exception:
            if not body.timed_out:
                raise
            result = None
        if not body.timed_out:
            return result
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return self.too_late(environ, start_response)

    def too_late(self, environ: dict[str, t.Any], start_response: t.Any) -> Iterator[bytes]:
        """Answer 408 (replacing whatever the app started) and close the connection once it is sent."""
        logger.info(
            "Answered 408 and closed the connection: the body of %s %s from %s did not arrive within"
            " REALTIME_BODY_TIMEOUT=%gs",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            environ.get("REMOTE_ADDR"),
            self.timeout,
        )
        message = f"The request body did not arrive within {self.timeout:g} seconds.\n".encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(message)))]
        error = BodyTimeout()
        # With exc_info, start_response replaces a status the app set but the server has not sent.
        start_response("408 Request Timeout", headers, (BodyTimeout, error, None))
        return self._then_close(message, connection_socket(environ))

    @staticmethod
    def _then_close(message: bytes, sock: socket.socket | None) -> Iterator[bytes]:
        yield message
        # Resumed once the server has written the answer: the rest of the body
        # is never read (gunicorn would read it to reach the next request).
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass


def timeout_from_config(config: t.Mapping[str, t.Any]) -> float:
    raw = config["REALTIME_BODY_TIMEOUT"]
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(raw, bool) or not seconds > 0:
        raise ConfigError(
            f"REALTIME_BODY_TIMEOUT={raw!r} cannot work: set it to the seconds a client has to send a request"
            " body, a number above 0 (default 10; raise it if the app takes large uploads over slow links)."
        )
    return seconds


def init_app(app: Flask, state: RealtimeState) -> None:
    """Put the deadline in front of everything that reads a body (call after every other middleware)."""
    timeout = timeout_from_config(app.config)
    bound = bound_for(state.socketio.async_mode)
    app.wsgi_app = _wsgi.direct_call(BodyDeadline(app.wsgi_app, timeout, bound))  # type: ignore[method-assign]
