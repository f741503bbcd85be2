"""Raw Engine.IO / Socket.IO clients for hostile-input tests.

python-socketio's client cleans up what it sends (headers are a dict, cookies
are parsed, packets are well-formed); these speak the wire protocol by hand so
a test can send duplicated, non-UTF-8 or oversized headers and broken packets,
and see exactly what the server answers. Protocol: Engine.IO v4, Socket.IO v5.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websocket

Header = tuple[str, str | bytes]
PATH = "/socket.io/"
RECORD_SEPARATOR = "\x1e"


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def http_request(
    url: str, method: str, path: str, headers: t.Sequence[Header] = (), body: bytes | None = None, timeout: float = 10
) -> Answer:
    """One HTTP request with headers sent exactly as given (bytes, duplicates, any size)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        names = {name.lower() for name, _ in headers}
        conn.putrequest(method, path, skip_host="host" in names, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Content-Type", "text/plain;charset=UTF-8")
        conn.endheaders(body)
        response = conn.getresponse()
        return Answer(response.status, response.read(), {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()


@dataclass
class Outcome:
    """What a Socket.IO connect attempt ended in."""

    kind: str  # "connected", "refused", "http" (an HTTP error before Socket.IO), "closed"
    status: int | None = None
    message: str | None = None
    reason: str | None = None
    body: str = ""
    eio_sid: str | None = None

    @property
    def refusal(self) -> tuple[str | None, str | None]:
        return self.message, self.reason


def _socketio_answer(packets: list[str]) -> Outcome | None:
    for data in packets:
        if data.startswith("40"):
            return Outcome("connected", body=data)
        if data.startswith("44"):
            error = json.loads(data[2:])
            return Outcome("refused", message=error.get("message"), reason=(error.get("data") or {}).get("reason"))
    return None


def cookies_of(headers: t.Sequence[Header]) -> list[Header]:
    """The ``Cookie`` headers among ``headers``."""
    return [(name, value) for name, value in headers if name.lower() == "cookie"]


def poll_connect(
    url: str, headers: t.Sequence[Header] = (), *, follow_headers: t.Sequence[Header] = (), timeout: float = 10
) -> Outcome:
    """Connect to namespace ``/`` over long-polling, sending ``headers`` on the handshake.

    The later requests of the session carry the handshake's ``Cookie``
    headers, as a browser's would, and ``follow_headers`` (e.g. the same
    ``Origin`` a browser would repeat). A connected session is closed again.
    """
    follow_headers = [*cookies_of(headers), *follow_headers]
    query = "?EIO=4&transport=polling"
    open_answer = http_request(url, "GET", PATH + query, headers, timeout=timeout)
    if open_answer.status != 200:
        return Outcome("http", status=open_answer.status, body=open_answer.text)
    assert open_answer.text.startswith("0"), open_answer.text
    sid = json.loads(open_answer.text[1:])["sid"]
    session = f"{PATH}{query}&sid={sid}"
    posted = http_request(url, "POST", session, follow_headers, b"40", timeout=timeout)
    if posted.status != 200:
        return Outcome("http", status=posted.status, body=posted.text, eio_sid=sid)
    for _ in range(5):  # the answer may follow a noop/ping packet; bounded
        polled = http_request(url, "GET", session, follow_headers, timeout=timeout)
        if polled.status != 200:
            return Outcome("http", status=polled.status, body=polled.text, eio_sid=sid)
        packets = polled.text.split(RECORD_SEPARATOR)
        outcome = _socketio_answer(packets)
        if outcome is not None:
            outcome.eio_sid = sid
            if outcome.kind == "connected":
                with contextlib.suppress(OSError):
                    http_request(url, "POST", session, follow_headers, b"41\x1e1", timeout=timeout)
            return outcome
        if "1" in packets:
            return Outcome("closed", body=polled.text, eio_sid=sid)
    raise AssertionError(f"no CONNECT or CONNECT_ERROR after 5 polls for {sid}")


def ws_url(url: str, path: str = PATH, query: str = "?EIO=4&transport=websocket") -> str:
    return url.replace("http://", "ws://", 1) + path + query


def ws_open(
    url: str,
    headers: t.Sequence[str] = (),
    *,
    origin: str | None = None,
    timeout: float = 10,
    path: str = PATH,
    **options: t.Any,
) -> websocket.WebSocket:
    """An Engine.IO websocket (handshake read); ``origin=None`` sends no Origin header at all.

    ``options`` go to ``websocket.create_connection`` (e.g. ``host=`` for the Host header).
    """
    ws = websocket.create_connection(
        ws_url(url, path),
        header=list(headers),
        origin=origin,
        suppress_origin=origin is None,
        timeout=timeout,
        **options,
    )
    opened = ws.recv()
    assert isinstance(opened, str) and opened.startswith("0"), opened
    return ws


def ws_recv_socketio(ws: websocket.WebSocket) -> str:
    """The next Socket.IO packet, answering Engine.IO pings on the way (bounded)."""
    for _ in range(20):
        data = ws.recv()
        if data == "2":
            ws.send("3")
            continue
        return data
    raise AssertionError("only pings arrived")


def ws_connect(
    url: str, headers: t.Sequence[str] = (), *, origin: str | None = None, timeout: float = 10, **options: t.Any
) -> Outcome:
    """Connect to namespace ``/`` over a websocket; a connected socket is closed again."""
    try:
        ws = ws_open(url, headers, origin=origin, timeout=timeout, **options)
    except websocket.WebSocketBadStatusException as exc:
        return Outcome("http", status=exc.status_code, body=(exc.resp_body or b"").decode("utf-8", "replace"))
    try:
        ws.send("40")
        outcome = _socketio_answer([ws_recv_socketio(ws)])
        assert outcome is not None
        return outcome
    finally:
        ws_close(ws)


def ws_close(ws: websocket.WebSocket) -> None:
    """Close politely if the connection still works, and release the socket in any case."""
    with contextlib.suppress(Exception):
        ws.close(timeout=0.2)
    ws.shutdown()
