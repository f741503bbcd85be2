"""Read one HTTP/1.1 response from a socket, for the lean ArangoDB client.

``http.client.HTTPResponse`` parses headers with the ``email`` package and
wraps each socket in a new buffered file: about 50 µs per ArangoDB answer
(in-process), to read a dozen header lines. :func:`read_response`
reads the same responses straight from ``recv`` into one buffer.

It reads what an HTTP/1.1 server may send: interim ``1xx`` answers (skipped),
``Content-Length`` or chunked bodies, bodies that end when the server closes,
no body for ``HEAD``, ``204`` and ``304``, and header lines ending in CRLF or
a bare LF. Anything else (a malformed status line, header or chunk size,
conflicting lengths, an oversized head, a connection closed mid-answer)
raises an :class:`http.client.HTTPException`, the errors the client already
turns into store errors; so does a server that closes before answering,
as :class:`http.client.RemoteDisconnected`, which the client treats as a
stale kept-alive connection.
"""

from __future__ import annotations

import http.client
import re
import typing as t

from requests.structures import CaseInsensitiveDict

#: Largest status line plus headers accepted; ArangoDB's are under 1 KiB.
MAX_HEAD_BYTES = 64 * 1024
#: Largest chunk-size or trailer line accepted.
MAX_LINE_BYTES = 8 * 1024
#: How much one ``recv`` asks for.
RECV_BYTES = 64 * 1024
#: Statuses that never have a body (RFC 9110, 6.4.1).
NO_BODY_STATUSES = frozenset({204, 304})
#: A chunk size: hex digits only (``int(x, 16)`` would also take "0x1f", "1_0" and "-1").
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")


class HTTPReply(t.NamedTuple):
    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    #: Whether the connection cannot carry another request.
    will_close: bool


class _Buffer:
    """Bytes received on a connection and not consumed yet."""

    def __init__(self, recv: t.Callable[[int], bytes]) -> None:
        self._recv = recv
        self.data = bytearray()
        #: Whether anything at all has arrived (EOF before that is a stale connection).
        self.received = False

    def fill(self) -> None:
        chunk = self._recv(RECV_BYTES)
        if not chunk:
            if not self.received:
                raise http.client.RemoteDisconnected("the server closed the connection without answering")
            raise http.client.IncompleteRead(bytes(self.data))
        self.received = True
        self.data += chunk

    def take(self, size: int) -> bytes:
        taken = bytes(self.data[:size])
        del self.data[:size]
        return taken

    def read_exactly(self, size: int) -> bytes:
        while len(self.data) < size:
            self.fill()
        return self.take(size)

    def read_head(self) -> bytes:
        """Everything up to the blank line ending the status line and headers."""
        searched = 0
        while True:
            end = _head_end(self.data, searched)
            if end is not None:
                return self.take(end)
            if len(self.data) > MAX_HEAD_BYTES:
                raise http.client.LineTooLong(f"response head (over {MAX_HEAD_BYTES} bytes)")
            # A terminator may straddle two reads: search again from 3 bytes back.
            searched = max(0, len(self.data) - 3)
            self.fill()

    def read_line(self) -> bytes:
        while (end := self.data.find(b"\n")) < 0:
            if len(self.data) > MAX_LINE_BYTES:
                raise http.client.LineTooLong("chunk size or trailer line")
            self.fill()
        return self.take(end + 1).rstrip(b"\r\n")

    def read_to_close(self) -> bytes:
        while chunk := self._recv(RECV_BYTES):
            self.data += chunk
        return self.take(len(self.data))


def _head_end(data: bytearray, start: int) -> int | None:
    """Index just past the blank line that ends a response head, if ``data`` has one."""
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := data.find(mark, start)) >= 0]
    return min(ends) if ends else None


def read_response(recv: t.Callable[[int], bytes], method: str) -> HTTPReply:
    """The next response on a connection read with ``recv`` (``socket.recv``), for a ``method`` request."""
    buffer = _Buffer(recv)
    while True:
        version, status, reason, headers = parse_head(buffer.read_head())
        if not (100 <= status < 200) or status == 101:
            break
        # An interim answer (100 Continue, 103 Early Hints): the real one follows.
    will_close = closes_connection(version, headers)
    if method == "HEAD" or status in NO_BODY_STATUSES or 100 <= status < 200:
        body = b""
    elif "chunked" in headers.get("Transfer-Encoding", "").lower():
        body = read_chunked(buffer)
    elif "Content-Length" in headers:
        body = buffer.read_exactly(content_length(headers["Content-Length"]))
    else:
        body = buffer.read_to_close()
        will_close = True
    # Bytes after the answer mean the two sides disagree on where it ended:
    # this connection must not carry another request.
    return HTTPReply(status, reason, headers, body, will_close or bool(buffer.data))


def parse_head(head: bytes) -> tuple[str, int, str, CaseInsensitiveDict[str]]:
    """``(version, status, reason, headers)`` of a response head."""
    lines = head.decode("iso-8859-1").split("\n")
    status_line = lines[0].rstrip("\r")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise http.client.BadStatusLine(status_line[:100])
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    name = None
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t" and name is not None:  # obsolete line folding: continues the previous value
            headers[name] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise http.client.HTTPException(f"malformed header line {line[:100]!r}")
        value = value.strip()
        # Repeated headers are joined, as requests and urllib3 present them.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return version, int(code), reason.strip(), headers


def closes_connection(version: str, headers: t.Mapping[str, str]) -> bool:
    tokens = {token.strip().lower() for token in headers.get("Connection", "").split(",")}
    if "close" in tokens:
        return True
    return version == "HTTP/1.0" and "keep-alive" not in tokens


def content_length(value: str) -> int:
    # "Content-Length: 42, 42" (a repeated header, joined) is allowed if every copy agrees.
    lengths = {item.strip() for item in value.split(",")}
    if len(lengths) != 1 or not (length := lengths.pop()).isdigit():
        raise http.client.HTTPException(f"invalid Content-Length {value[:40]!r}")
    return int(length)


def read_chunked(buffer: _Buffer) -> bytes:
    """A chunked body (RFC 9112, 7.1); trailers are read and dropped."""
    body = bytearray()
    while True:
        size_field = buffer.read_line().split(b";", 1)[0].strip()
        if not CHUNK_SIZE.fullmatch(size_field):
            raise http.client.HTTPException(f"invalid chunk size {size_field[:20]!r}")
        size = int(size_field, 16)
        if size == 0:
            while buffer.read_line():
                pass
            return bytes(body)
        body += buffer.read_exactly(size)
        if buffer.read_line():
            raise http.client.HTTPException("chunk data longer than its size")
