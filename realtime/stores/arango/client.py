"""A lean HTTP client for python-arango: kept-alive sockets, no requests.

python-arango sends every request through ``requests`` by default. On the
connect path that stack cost more CPU than the rest of the session check:
``requests`` rebuilds a prepared request, merges proxy settings read from
``os.environ`` and copies headers into case-insensitive dicts for every call,
and urllib3 underneath adds its own pool bookkeeping and response wrappers.
:class:`PooledHTTPClient` plugs into python-arango's documented extension
point (``ArangoClient(http_client=...)``) and sends the same requests over
plain kept-alive sockets, one small pool per host: the request is written in
one ``sendall`` and the answer read straight from the socket by
:func:`~realtime.stores.arango.response.read_response` (README "Performance" has the
measured difference).

Kept from the default client: keep-alive, TLS verification with the same CA
bundle (``certifi``) or the path given as ``verify``, basic auth, query
parameters encoded the same way. Different on purpose: the timeout is one
deadline for the whole request (connecting, sending, every read), not a
limit on each read, which a database answering a byte at a time would never
reach; nothing is retried (the store wants one quick failure,
not several slow ones), except a request whose kept-alive connection turns
out to have been closed by the server before it was sent; proxies from the
environment are not consulted (ArangoDB is reached directly). A failure to
*connect* is raised as ``requests.ConnectionError``, the exception
python-arango answers by trying the next host of a multi-host ``ARANGO_URL``;
a TLS failure is a configuration problem and is raised at once, saying what
to set.

``ARANGO_HTTP_CLIENT=requests`` switches back to python-arango's own client.
"""

from __future__ import annotations

import base64
import functools
import http.client
import socket
import ssl
import threading
import time
import typing as t
import zlib
from urllib.parse import quote, urlencode, urlsplit

import certifi
import requests
from arango.http import HTTPClient
from arango.response import Response

from .response import HTTPReply, read_response

if t.TYPE_CHECKING:
    from collections.abc import MutableMapping

#: Characters left as they are in a request target; the same set ``requests``
#: keeps when it re-quotes a URL, so both clients send identical targets.
TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
#: Methods whose requests always carry a Content-Length.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

#: What a kept-alive connection the server has closed in the meantime raises
#: when it is used again (as :class:`ConnectionClosed`); the request is then
#: sent once more on a new connection.
STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class ArangoUnreachable(requests.ConnectionError):
    """No connection to an ArangoDB host could be made (python-arango tries the next host)."""


class ArangoTransportError(OSError):
    """The request was sent (or partly sent) and no usable answer came back."""


class ArangoTimeout(ArangoTransportError, TimeoutError):
    """The request was sent and no answer came within the timeout."""


class ConnectionClosed(ArangoTransportError):
    """The server closed the connection without an answer."""


class ArangoTLSError(ArangoTransportError):
    """The TLS handshake failed: a configuration problem, so no other host is tried."""


class PooledSession:
    """One host's kept-alive connections; python-arango calls it a "session".

    python-arango assigns ``session.verify`` after creating it (its
    ``verify_override``), so the TLS context is built on first use. Idle
    connections wait in a list; each request takes one (or opens a new one)
    and gives it back if the server keeps it open, so concurrent requests
    (greenlets or threads) never share a connection.
    """

    def __init__(self, host: str, *, timeout: float, pool_size: int) -> None:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ArangoDB host {host!r} is not an http:// or https:// URL")
        self.host = host
        self.https = parts.scheme == "https"
        self.address = (parts.hostname, parts.port or (443 if self.https else 80))
        self.host_header = parts.netloc.rpartition("@")[2]
        self.timeout = timeout
        self.pool_size = pool_size
        self.verify: bool | str = True
        self._tls: ssl.SSLContext | None = None
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            if self.verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                cafile = self.verify if isinstance(self.verify, str) else certifi.where()
                context = ssl.create_default_context(cafile=cafile)
            self._tls = context
        return self._tls

    def take(self, deadline: float) -> tuple[socket.socket, bool]:
        """An idle connection, or a new one opened before ``deadline``; and whether it was reused."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self.open(deadline), False

    def open(self, deadline: float | None = None) -> socket.socket:
        """A newly connected socket (TLS-wrapped for https), ready before ``deadline`` (default: timeout from now)."""
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        try:
            sock = socket.create_connection(self.address, timeout=remaining(deadline))
        except OSError as exc:  # refused, unreachable, DNS failure, connect timeout
            raise ArangoUnreachable(f"cannot connect ({type(exc).__name__})") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.https:
            return sock
        try:
            sock.settimeout(remaining(deadline))
            return self.tls_context().wrap_socket(sock, server_hostname=self.address[0])
        except ssl.SSLError as exc:
            sock.close()
            raise ArangoTLSError(tls_advice(exc)) from exc
        except OSError as exc:
            sock.close()
            raise ArangoUnreachable(f"cannot connect ({type(exc).__name__})") from exc

    def give_back(self, conn: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self.pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __del__(self) -> None:
        # A client dropped without close() (a CLI command, a test) must not
        # leave its kept-alive sockets to the garbage collector's warnings.
        self.close()


class PooledHTTPClient(HTTPClient):
    """python-arango ``HTTPClient`` on kept-alive sockets, one small pool per host (see the module docstring)."""

    def __init__(self, request_timeout: float = 2.0, pool_size: int = 32) -> None:
        self.request_timeout = request_timeout
        self.pool_size = pool_size

    def create_session(self, host: str) -> PooledSession:  # type: ignore[override]
        return PooledSession(host, timeout=self.request_timeout, pool_size=self.pool_size)

    def send_request(  # type: ignore[override]
        self,
        session: PooledSession,
        method: str,
        url: str,
        headers: MutableMapping[str, str] | None = None,
        params: MutableMapping[str, t.Any] | None = None,
        data: str | bytes | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        deadline = time.monotonic() + self.request_timeout
        verb = method.upper()
        request = request_bytes(
            verb, request_target(url, params), session.host_header, headers or {}, auth, encode_body(data)
        )
        conn, reused = session.take(deadline)
        try:
            reply = exchange(conn, verb, request, deadline)
        except ConnectionClosed:
            if not reused:
                raise
            # The server closed this kept-alive connection while it was idle
            # (or is gone: then opening a new one fails as "cannot connect").
            conn = session.open(deadline)
            reply = exchange(conn, verb, request, deadline)
        if reply.will_close:
            conn.close()
        else:
            session.give_back(conn)
        return Response(
            method=method,
            url=url,
            headers=reply.headers,
            status_code=reply.status,
            status_text=reply.reason,
            raw_body=reply.body.decode("utf-8", errors="replace"),
        )


def request_bytes(
    method: str,
    target: str,
    host: str,
    headers: t.Mapping[str, str],
    auth: tuple[str, str] | None,
    body: bytes | None,
) -> bytes:
    """The whole HTTP/1.1 request, ready for one ``sendall``."""
    lines = [f"{method} {quote(target, safe=TARGET_SAFE)} HTTP/1.1", f"Host: {host}"]
    lines += [header_line(name, value) for name, value in headers.items()]
    if auth is not None:
        lines.append(f"Authorization: {basic_auth(*auth)}")
    if body is not None or method in BODY_METHODS:
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


def header_line(name: str, value: object) -> str:
    line = f"{name}: {value}"
    if "\r" in line or "\n" in line or ":" in str(name):
        raise ValueError(f"refusing to send header {name!r}: line breaks or a colon in a header")
    return line


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (monotonic); ``TimeoutError`` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the request's deadline passed")
    return left


def recv_before(conn: socket.socket, deadline: float) -> t.Callable[[int], bytes]:
    """``conn.recv``, each call given only the time left until ``deadline``."""

    def recv(size: int) -> bytes:
        conn.settimeout(remaining(deadline))
        return conn.recv(size)

    return recv


def exchange(conn: socket.socket, method: str, request: bytes, deadline: float) -> HTTPReply:
    """Send ``request`` on ``conn`` and read the whole answer before ``deadline``; on failure, close ``conn``."""
    try:
        conn.settimeout(remaining(deadline))
        conn.sendall(request)
        reply = read_response(recv_before(conn, deadline), method)
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        if isinstance(exc, TimeoutError):
            raise ArangoTimeout("no answer within the timeout") from exc
        if isinstance(exc, STALE_CONNECTION):
            raise ConnectionClosed(f"connection closed by the server ({type(exc).__name__})") from exc
        raise ArangoTransportError(f"no usable answer ({type(exc).__name__})") from exc
    if reply.headers.get("Content-Encoding", "").lower() in ("gzip", "deflate"):
        try:  # gzip or zlib, detected from the header
            return reply._replace(body=zlib.decompress(reply.body, zlib.MAX_WBITS | 32))
        except zlib.error as exc:
            conn.close()
            raise ArangoTransportError(f"no usable answer (a compressed body that does not inflate: {exc})") from exc
    return reply


def request_target(url: str, params: t.Mapping[str, t.Any] | None) -> str:
    """Origin-form request target (path and query) of ``url`` plus ``params``.

    Query values are encoded as ``requests`` encodes them, so the server sees
    the same request whichever client sent it.
    """
    parts = urlsplit(url)
    target = parts.path or "/"
    query = [parts.query] if parts.query else []
    if params:
        query.append(urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True))
    return f"{target}?{'&'.join(query)}" if query else target


def tls_advice(exc: ssl.SSLError) -> str:
    """What failed in the handshake (no URL in it), and the usual fix."""
    if "CERTIFICATE_VERIFY_FAILED" in f"{getattr(exc, 'reason', '')} {exc}":
        return (
            "TLS certificate not trusted (CERTIFICATE_VERIFY_FAILED); if ArangoDB's certificate comes from a"
            " private CA, set ARANGO_VERIFY to that CA's PEM file"
        )
    return f"TLS handshake failed ({getattr(exc, 'reason', None) or type(exc).__name__})"


@functools.lru_cache(maxsize=8)
def basic_auth(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def encode_body(data: object) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    # python-arango only sends multipart bodies for Foxx service uploads,
    # which this package never makes.
    raise TypeError(f"PooledHTTPClient cannot send a {type(data).__name__} body; use ARANGO_HTTP_CLIENT=requests")
