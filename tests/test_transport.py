"""The websocket Engine.IO's handler gets (realtime/transport.py), checked in-process against real driver objects.

The end-to-end behaviour (a malformed frame closes the socket cleanly on the
Procfile's worker) is in tests/test_hardening_input.py; these tests pin what
the wrapper must be for every socket: the driver's methods and socket, and no
Python-level exception when Engine.IO probes it for attributes a driver lacks
(that exception's traceback would keep Engine.IO's handler frame alive for
the socket's life).
"""

from __future__ import annotations

import io
import json
import socket
import sys
import typing as t

import pytest
from engineio import packet
import socketio.packet

from realtime.transport import (
    CheckedWebSocket,
    PollingBodyCheck,
    checked_websocket_factory,
    is_decodable,
    is_malformed_socketio_message,
)


class DriverWebSocket:
    """What eventlet's ``RFC6455WebSocket`` offers Engine.IO: ``wait``, ``send``, ``close`` and ``socket``."""

    def __init__(self, frames: list[t.Any], sock: t.Any = None) -> None:
        self.frames = list(frames)
        self.sent: list[tuple[t.Any, ...]] = []
        self.closed_with: tuple[t.Any, ...] | None = None
        if sock is not None:
            self.socket = sock

    def wait(self) -> t.Any:
        return self.frames.pop(0) if self.frames else None

    def send(self, message: t.Any, *args: t.Any) -> None:
        self.sent.append((message, *args))

    def close(self, *args: t.Any) -> None:
        self.closed_with = args


def run_through(frames: list[t.Any], sock: t.Any = None) -> tuple[CheckedWebSocket, DriverWebSocket, list[t.Any]]:
    """Serve one connection through the checked factory; the handler reads frames until ``None``."""
    received: list[t.Any] = []
    driver = DriverWebSocket(frames, sock)
    seen: dict[str, CheckedWebSocket] = {}

    def handler(ws: CheckedWebSocket) -> list[t.Any]:
        seen["ws"] = ws
        while (frame := ws.wait()) is not None:
            received.append(frame)
        return []

    def factory(wrapped_handler: t.Callable[[t.Any], t.Any], server: object) -> t.Callable[..., t.Any]:
        # Stands in for the driver's WSGI app: it makes the websocket and calls the handler.
        return lambda environ, start_response: wrapped_handler(driver)

    serve = checked_websocket_factory(factory)(handler, server=None)
    assert serve({}, None) == []
    return seen["ws"], driver, received


def test_frames_that_decode_pass_and_the_first_that_does_not_ends_the_connection():
    good = packet.Packet(packet.MESSAGE, data="2").encode()
    ws, driver, received = run_through([good, "4hello", "", "never read"])
    assert received == [good, "4hello"]
    assert driver.frames == ["never read"]  # reading stopped at the empty frame


def test_send_close_and_socket_are_the_drivers():
    sock = socket.socket()
    try:
        ws, driver, _ = run_through([], sock)
        ws.send("40", 1)
        ws.close(1000)
        assert driver.sent == [("40", 1)] and driver.closed_with == (1000,)
        assert ws.socket is sock
    finally:
        sock.close()


def test_a_driver_without_a_socket_has_none_for_engineio_to_set_a_timeout_on():
    ws, _, _ = run_through([])
    assert ws.socket is None
    assert not hasattr(ws.socket, "settimeout")


def test_engineio_probing_for_missing_attributes_raises_nothing_in_python():
    ws, _, _ = run_through([], socket.socket())
    raised: list[str] = []

    def tracer(frame: t.Any, event: str, arg: t.Any) -> t.Any:
        if event == "exception":
            raised.append(f"{frame.f_code.co_name}: {arg[0].__name__}")
        return tracer

    sys.settrace(tracer)
    try:
        # What python-engineio's websocket handler does before reading.
        found = [attr for attr in ("_sock", "socket") if hasattr(ws, attr) and hasattr(getattr(ws, attr), "settimeout")]
    finally:
        sys.settrace(None)
        ws.socket.close()
    assert found == ["socket"]
    assert raised == []


@pytest.mark.parametrize("name", ["_sock", "environ", "anything_else"])
def test_attributes_engineio_does_not_use_are_not_there(name):
    ws, _, _ = run_through([])
    assert not hasattr(ws, name)


@pytest.mark.parametrize(
    "frame",
    ["4", "40", '42["echo",{"a":1}]', "3", "2probe", "6", "9garbage", "4\x00\udcff", "bAAEC"]
    + [b"\x00\x01", bytearray(b"x")],
)
def test_frames_engineio_decodes_are_decodable(frame):
    packet.Packet(encoded_packet=frame)  # what Engine.IO does with it: no exception
    assert is_decodable(frame)


@pytest.mark.parametrize("frame", ["", "x42", " 4", "b!!not-base64", "²", "\udcff", 42])
def test_frames_engineio_cannot_decode_are_not(frame):
    with pytest.raises((ValueError, IndexError, TypeError)):
        packet.Packet(encoded_packet=frame)
    assert not is_decodable(frame)


@pytest.mark.parametrize("data", ["0", "0/admin,", '0{"token":"x"}', "1", '2["echo",{"n":1}]', '21["echo"]', "3[]", "31[1]"])
def test_packets_clients_send_are_not_malformed(data):
    assert not is_malformed_socketio_message(socketio.packet.Packet, data)


@pytest.mark.parametrize(
    "data", ["4x", '4{"message":"no"}', "x", "2[bad", "9", "0{", '51-["e",{"_placeholder":true,"num":0}]', b"\x00\x01"]
)
def test_packets_no_client_sends_are_malformed(data):
    assert is_malformed_socketio_message(socketio.packet.Packet, data)

# -- long-polling POSTs that would hang Engine.IO ---------------------------------------

MAX_BYTES = 100


class NoBody:
    """A ``wsgi.input`` whose client never sends the body: a read would wait for good."""

    def read(self, *args: t.Any) -> bytes:
        raise AssertionError("the body was read")


def post(query: str, body: bytes | None, *, length: str | None = None, path: str = "/socket.io/") -> tuple[str, bytes]:
    """``(status, what Engine.IO read)`` of a POST through :class:`PollingBodyCheck` (one session: ``known``)."""
    seen: dict[str, t.Any] = {}

    def engineio(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        start_response("200 OK", [])
        return [environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))]

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)) if length is None and body is not None else (length or ""),
        "wsgi.input": io.BytesIO(body) if body is not None else NoBody(),
    }
    answer = b"".join(PollingBodyCheck(engineio, "/socket.io", MAX_BYTES, {"known"})(environ, start_response))
    return seen["status"], answer


@pytest.mark.parametrize(
    ("query", "body", "length", "status"),
    [
        ("EIO=4&transport=polling&sid=made-up", None, "50", "400 BAD REQUEST"),  # refused before the body
        ("EIO=4&sid=made-up", None, "50", "400 BAD REQUEST"),  # polling is the default transport
        ("EIO=4&transport=polling&sid=known", None, str(MAX_BYTES + 1), "413 PAYLOAD TOO LARGE"),
        ("EIO=4&transport=polling&sid=known", None, "many", "400 BAD REQUEST"),
        ("EIO=4&transport=polling&sid=known", b"6", None, "400 BAD REQUEST"),
        ("EIO=4&transport=polling&sid=known", b"4hi\x1e0", None, "400 BAD REQUEST"),
        ("EIO=4&transport=polling&sid=known", b"\xff\xfe", None, "400 BAD REQUEST"),
    ],
)
def test_polling_posts_engineio_would_hang_on_are_answered_here(query, body, length, status):
    answered, answer = post(query, body, length=length)
    assert answered == status
    assert isinstance(json.loads(answer), str)  # our refusal, not Engine.IO's answer


@pytest.mark.parametrize("body", [b"4hi", b"1", b"3probe\x1e4" + b"x" * (MAX_BYTES - 10), b"5"])
def test_polling_posts_a_client_sends_reach_engineio_with_their_body(body):
    assert post("EIO=4&transport=polling&sid=known", body) == ("200 OK", body)


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("EIO=4&transport=polling", "/socket.io/"),  # no sid: Engine.IO answers it
        ("EIO=4&transport=websocket&sid=made-up", "/socket.io/"),
        ("EIO=4&transport=polling&sid=made-up", "/elsewhere/"),
    ],
)
def test_other_posts_are_not_checked_here(query, path):
    assert post(query, b"6", path=path) == ("200 OK", b"6")
