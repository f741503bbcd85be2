"""``realtime.stores.arango.response``: HTTP/1.1 responses read from real sockets.

Each answer is written by hand into one end of a socket pair and read from
the other, once whole and once a byte per ``recv`` (so every boundary falls
inside a read at least once). The same reader serves every ArangoDB request
of the lean client (tests/test_arango_http.py, the store contract suite).
"""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import time

import pytest

from realtime.stores.arango.client import ArangoTransportError, ConnectionClosed, PooledSession, exchange
from realtime.stores.arango.response import MAX_HEAD_BYTES, read_response


def _read(raw: bytes, method: str = "GET", *, bytewise: bool = False, close: bool = True):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(5)
        theirs.sendall(raw)
        if close:
            theirs.shutdown(socket.SHUT_WR)
        recv = (lambda size: ours.recv(1)) if bytewise else ours.recv
        return read_response(recv, method)


both_ways = pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])


@both_ways
def test_content_length_body_and_headers(bytewise):
    reply = _read(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Arango-Queue-Time-Seconds: 0\r\n"
        b'Content-Length: 11\r\n\r\n{"_key":1}\n',
        bytewise=bytewise,
    )
    assert (reply.status, reply.reason, reply.body) == (201, "Created", b'{"_key":1}\n')
    assert reply.headers["content-type"] == "application/json"  # names are case-insensitive
    assert not reply.will_close


@both_ways
def test_chunked_body_with_extensions_and_trailers(bytewise):
    reply = _read(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: dropped\r\n\r\n",
        bytewise=bytewise,
    )
    assert reply.body == b"hello world" and not reply.will_close


@both_ways
def test_interim_answers_are_skipped(bytewise):
    reply = _read(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", bytewise=bytewise)
    assert (reply.status, reply.body) == (200, b"ok")


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_no_body_for_head_204_and_304(method, status):
    # The Content-Length of a HEAD answer describes a GET's body, which is not sent.
    reply = _read(f"HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n".encode(), method, close=False)
    assert reply.body == b"" and not reply.will_close


def test_without_a_length_the_body_ends_when_the_server_closes():
    reply = _read(b"HTTP/1.1 200 OK\r\n\r\nall of it")
    assert reply.body == b"all of it" and reply.will_close


@pytest.mark.parametrize(
    ("head", "will_close"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close", True),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive", False),
        (b"HTTP/1.0 200 OK", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive", False),
    ],
)
def test_whether_the_connection_can_be_kept(head, will_close):
    assert _read(head + b"\r\nContent-Length: 0\r\n\r\n", close=False).will_close is will_close


def test_bytes_after_the_answer_mean_the_connection_is_not_reused():
    reply = _read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", close=False)
    assert reply.body == b"ok" and reply.will_close


def test_repeated_headers_are_joined_folded_lines_continue_and_bare_lf_ends_lines():
    reply = _read(b"HTTP/1.1 200 OK\nVary: a\nVary: b\nX-Long: one\n  two\nContent-Length: 0\n\n", close=False)
    assert reply.headers["vary"] == "a, b"
    assert reply.headers["x-long"] == "one two"


def test_a_server_that_closes_before_answering_is_a_stale_connection():
    with pytest.raises(http.client.RemoteDisconnected):
        _read(b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # closed mid-body
        b"HTTP/1.1 200 OK\r\nContent-Le",  # closed mid-head
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # closed mid-chunk
    ],
)
def test_an_answer_cut_short_is_incomplete(raw):
    with pytest.raises(http.client.IncompleteRead):
        _read(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"SMTP ready\r\n\r\n", "SMTP ready"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 2000 OK"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nBad Name : x\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nokay\r\n0\r\n\r\n", "longer than its size"),
    ],
)
def test_malformed_answers_are_refused_saying_what_was_wrong(raw, message):
    with pytest.raises(http.client.HTTPException, match=message):
        _read(raw)


def test_an_endless_head_is_refused_without_reading_it_all():
    ours, theirs = socket.socketpair()
    stop = threading.Event()

    def flood() -> None:
        theirs.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.is_set():
            try:
                theirs.sendall(b"X-Filler: " + b"y" * 1000 + b"\r\n")
            except OSError:
                return

    writer = threading.Thread(target=flood, daemon=True)
    writer.start()
    with ours:
        ours.settimeout(5)
        with pytest.raises(http.client.LineTooLong, match=str(MAX_HEAD_BYTES)):
            read_response(ours.recv, "GET")
    stop.set()
    theirs.close()
    writer.join(5)


# -- through the lean client's exchange(), from a real TCP server -----------------


@pytest.fixture
def answering_server():
    """A TCP server that answers every request on a connection with the next of ``answers``."""
    listener = socket.create_server(("127.0.0.1", 0))
    answers: list[bytes] = []
    requests_seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while answers:
                    request = conn.recv(65536)
                    if not request:
                        break
                    requests_seen.append(request)
                    conn.sendall(answers.pop(0))

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", answers, requests_seen
    listener.close()


def test_exchange_inflates_a_gzip_chunked_answer(answering_server):
    url, answers, _ = answering_server
    compressed = gzip.compress(b'{"ok":true}')
    answers.append(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(compressed):x}\r\n".encode()
        + compressed
        + b"\r\n0\r\n\r\n"
    )
    conn = PooledSession(url, timeout=5, pool_size=1).open()
    with conn:
        reply = exchange(conn, "GET", b"GET /_api/version HTTP/1.1\r\nHost: x\r\n\r\n", time.monotonic() + 5)
    assert reply.body == b'{"ok":true}'


def test_exchange_turns_a_bad_answer_into_a_transport_error_and_closes(answering_server):
    url, answers, _ = answering_server
    answers.append(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope")
    conn = PooledSession(url, timeout=5, pool_size=1).open()
    with pytest.raises(ArangoTransportError, match="does not inflate"):
        exchange(conn, "GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", time.monotonic() + 5)
    assert conn.fileno() == -1

    answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    conn = PooledSession(url, timeout=5, pool_size=1).open()
    with pytest.raises(ArangoTransportError, match="no usable answer"):
        exchange(conn, "GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", time.monotonic() + 5)
    assert conn.fileno() == -1  # closed: it cannot be handed out again


def test_exchange_reports_a_connection_closed_without_an_answer(answering_server):
    url, _, _ = answering_server  # no answers: the server closes at once
    conn = PooledSession(url, timeout=5, pool_size=1).open()
    with pytest.raises(ConnectionClosed):
        exchange(conn, "GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", time.monotonic() + 5)
