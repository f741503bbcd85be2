"""The decisions of realtime.unauthenticated, in-process: who is refused, what is closed and when, the per-address cap.

A stand-in for the python-socketio server (its Engine.IO handlers, send,
sockets and manager) and a hand-moved clock, so each decision is checked
without a worker. The same attacks against the real gunicorn + eventlet
worker are in ``tests/test_hardening_unauthenticated.py``; these are the fast
ones a mutation run uses (docs/mutation-2026-12-03.md).
"""

from __future__ import annotations

import json
import logging
import queue
import typing as t
from types import SimpleNamespace

import pytest
from socketio import packet as sio_packet

from realtime.unauthenticated import REFUSAL_GRACE, TOO_MANY, HandshakeCap, UnauthenticatedSessions

TIMEOUT = 10.0
REFUSAL = {"message": "Not authenticated", "data": {"reason": "unauthenticated"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class EngineSocket:
    def __init__(self) -> None:
        self.closed = False
        self.queue: queue.Queue[str] = queue.Queue()
        self.closed_with: dict[str, t.Any] | None = None

    def close(self, **kwargs: t.Any) -> None:
        self.closed, self.closed_with = True, kwargs


class Server:
    """What UnauthenticatedSessions uses of python-socketio's server; its own handlers record what reaches them."""

    packet_class = sio_packet.Packet

    def __init__(self) -> None:
        self.reached: list[tuple[str, t.Any]] = []
        self.connected: set[tuple[str, str]] = set()
        #: Namespaces python-socketio's own connect handler accepts.
        self.accepts: set[str] = set()
        self.sent: list[tuple[str, str]] = []
        #: Runs while python-socketio decides a CONNECT (the session lookup takes a while).
        self.while_deciding: t.Callable[[], None] = lambda: None
        self.eio = SimpleNamespace(
            handlers={"connect": self._open, "message": self._message, "disconnect": lambda sid, *a: None},
            sockets={},
            reason=SimpleNamespace(SERVER_DISCONNECT="server disconnect"),
            on=lambda event, handler: self.eio.handlers.__setitem__(event, handler),
            send=lambda sid, data: self.sent.append((sid, data)),
            create_event=lambda: SimpleNamespace(set=lambda: None),
        )
        self.manager = SimpleNamespace(
            sid_from_eio_sid=lambda eio_sid, ns: f"{eio_sid}{ns}" if (eio_sid, ns) in self.connected else None,
            is_connected=lambda sid, ns: True,
        )

    def start_background_task(self, target: t.Any) -> None:
        pass  # the tests call sweep_once themselves

    def _open(self, eio_sid: str, environ: dict[str, t.Any]) -> t.Any:
        self.eio.sockets[eio_sid] = EngineSocket()
        return False if environ.get("refuse") else None

    def _message(self, eio_sid: str, data: t.Any) -> None:
        self.reached.append((eio_sid, data))
        try:
            connect = sio_packet.Packet(encoded_packet=data)
        except ValueError:
            return  # python-socketio reports it
        if connect.packet_type != sio_packet.CONNECT:
            return
        self.while_deciding()
        if (connect.namespace or "/") in self.accepts:
            self.connected.add((eio_sid, connect.namespace or "/"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Server:
    return Server()


def watch(server: Server, clock: Clock, per_address: int = 2) -> UnauthenticatedSessions:
    sessions = UnauthenticatedSessions(
        server,
        timeout=TIMEOUT,
        per_address=per_address,
        address_of=lambda environ: environ["REMOTE_ADDR"],
        check_namespace=lambda namespace: REFUSAL if namespace == "/guarded" else None,
        clock=clock,
    )
    sessions.install()
    return sessions


def handshake(server: Server, eio_sid: str, address: str = "198.51.100.7", **environ: t.Any) -> t.Any:
    return server.eio.handlers["connect"](eio_sid, {"REMOTE_ADDR": address, **environ})


def send(server: Server, eio_sid: str, data: t.Any) -> t.Any:
    return server.eio.handlers["message"](eio_sid, data)


def closed(server: Server, eio_sid: str) -> bool:
    return server.eio.sockets[eio_sid].closed


def test_a_session_without_a_connect_is_closed_at_its_deadline_and_not_before(server, clock):
    sessions = watch(server, clock)
    handshake(server, "a")
    clock.now += TIMEOUT - 1
    assert sessions.sweep_once() == pytest.approx(1.0)
    assert not closed(server, "a")
    clock.now += 1
    sessions.sweep_once()
    assert closed(server, "a") and server.eio.sockets["a"].closed_with["abort"] is True
    assert len(sessions) == 0


def test_a_connect_the_guard_refuses_never_reaches_socketio_and_its_session_is_closed(server, clock):
    sessions = watch(server, clock)
    handshake(server, "a")
    assert send(server, "a", "0/guarded,") is None
    assert server.reached == []
    [(sid, sent)] = server.sent
    refusal = sio_packet.Packet(encoded_packet=sent)
    assert sid == "a" and refusal.packet_type == sio_packet.CONNECT_ERROR and refusal.namespace == "/guarded"
    assert refusal.data == REFUSAL
    # The client gets REFUSAL_GRACE to close it itself, then the server closes it.
    sessions.sweep_once()
    assert not closed(server, "a")
    clock.now += REFUSAL_GRACE
    sessions.sweep_once()
    assert closed(server, "a") and len(sessions) == 0


def test_a_refusal_still_waiting_in_the_queue_is_delivered_before_the_close(server, clock):
    sessions = watch(server, clock)
    handshake(server, "a")
    send(server, "a", "0")  # python-socketio refuses "/" (not in accepts)
    server.eio.sockets["a"].queue.put("44{...}")
    clock.now += REFUSAL_GRACE
    sessions.sweep_once()
    assert not closed(server, "a")  # the CONNECT_ERROR has not left yet
    server.eio.sockets["a"].queue.get()
    sessions.sweep_once()
    assert closed(server, "a")


def test_a_refusal_never_polled_is_closed_at_the_deadline_anyway(server, clock):
    sessions = watch(server, clock)
    handshake(server, "a")
    send(server, "a", "0")
    server.eio.sockets["a"].queue.put("44{...}")
    clock.now += TIMEOUT - 0.5
    sessions.sweep_once()
    assert not closed(server, "a")
    clock.now += 0.5
    sessions.sweep_once()
    assert closed(server, "a")


def test_an_accepted_connect_ends_the_watch(server, clock):
    sessions = watch(server, clock)
    server.accepts.add("/")
    handshake(server, "a")
    send(server, "a", "0")
    assert server.reached == [("a", "0")] and len(sessions) == 0
    clock.now += TIMEOUT * 2
    assert sessions.sweep_once() is None
    assert not closed(server, "a")


def test_a_refused_namespace_does_not_close_a_session_with_an_accepted_one(server, clock):
    sessions = watch(server, clock)
    server.accepts.add("/")
    handshake(server, "a")
    send(server, "a", "0")
    send(server, "a", "0/guarded,")  # over an authenticated socket: refused, but the socket stays
    send(server, "a", "0/other,")  # decided by python-socketio, as every CONNECT the guard lets through
    assert server.reached == [("a", "0"), ("a", "0/other,")]
    clock.now += TIMEOUT * 2
    sessions.sweep_once()
    assert not closed(server, "a") and len(sessions) == 0


@pytest.mark.parametrize("data", ["2", '42["echo"]', b"\x00binary", "0\udcff not a packet"])
def test_other_packets_reach_socketio_unchanged(server, clock, data):
    watch(server, clock)
    handshake(server, "a")
    send(server, "a", data)
    assert server.reached == [("a", data)] and server.sent == []


def test_a_handshake_the_handler_refuses_makes_no_session(server, clock):
    sessions = watch(server, clock)
    assert handshake(server, "a", refuse=True) is False
    assert len(sessions) == 0 and sessions.admits("198.51.100.7")


def test_each_address_holds_at_most_its_cap_until_one_connects_or_closes(server, clock):
    sessions = watch(server, clock, per_address=2)
    server.accepts.add("/")
    handshake(server, "a")
    handshake(server, "b")
    assert not sessions.admits("198.51.100.7")
    assert sessions.admits("203.0.113.9")
    send(server, "a", "0")  # connected: no longer unauthenticated
    assert sessions.admits("198.51.100.7")
    handshake(server, "c")
    assert not sessions.admits("198.51.100.7")
    server.eio.handlers["disconnect"]("b", "transport close")
    assert sessions.admits("198.51.100.7")


def test_no_cap_admits_everyone(server, clock):
    sessions = watch(server, clock, per_address=0)
    for n in range(5):
        handshake(server, f"s{n}")
    assert sessions.admits("198.51.100.7")


def cap_answer(sessions: UnauthenticatedSessions, method: str, query: str) -> tuple[str, dict[str, str], bytes]:
    answered: dict[str, t.Any] = {}

    def app(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"engine.io"]

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered.update(status=status, headers=dict(headers))

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/socket.io/",
        "QUERY_STRING": query,
        "REMOTE_ADDR": "198.51.100.7",
    }
    body = b"".join(HandshakeCap(app, sessions, "/socket.io/")(environ, start_response))
    return answered["status"], answered["headers"], body


def test_a_handshake_over_the_cap_gets_429_and_requests_of_open_sessions_pass(server, clock):
    sessions = watch(server, clock, per_address=1)
    assert cap_answer(sessions, "GET", "EIO=4&transport=polling")[0] == "200 OK"
    handshake(server, "a")
    status, headers, body = cap_answer(sessions, "GET", "EIO=4&transport=polling")
    assert status.startswith("429") and headers["Retry-After"] == str(int(TIMEOUT))
    assert json.loads(body)["reason"] == TOO_MANY
    assert cap_answer(sessions, "GET", "EIO=4&transport=polling&sid=a")[0] == "200 OK"
    assert cap_answer(sessions, "POST", "EIO=4&transport=polling&sid=a")[0] == "200 OK"


def test_an_address_at_its_cap_is_warned_about_once_until_it_drops_below(server, clock, caplog):
    """Each refused handshake is cheap for the client; a warning per refusal would let it flood the log."""
    sessions = watch(server, clock, per_address=1)
    handshake(server, "a")
    # The "realtime" logger may not propagate to the root logger caplog watches (realtime.logs).
    watched = logging.getLogger("realtime.unauthenticated")
    watched.addHandler(caplog.handler)
    try:
        for _ in range(3):
            assert not sessions.admits("198.51.100.7")
        server.eio.handlers["disconnect"]("a", "transport close")
        handshake(server, "b")
        assert not sessions.admits("198.51.100.7")
    finally:
        watched.removeHandler(caplog.handler)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "PER_ADDRESS" in r.getMessage()]
    assert len({id(r) for r in warnings}) == 2  # the first refusal, and the first after it dropped below


def test_a_refused_session_its_client_closes_leaves_nothing_to_sweep(server, clock):
    """Else every refused-then-closed session would stay on the closing list: it would grow with each one an
    attacker opens, and the sweeper would walk it every _DELIVERY_CHECK for good."""
    sessions = watch(server, clock)
    for n in range(3):
        handshake(server, f"s{n}")
        send(server, f"s{n}", "0/guarded,")
        server.eio.handlers["disconnect"](f"s{n}", "client disconnect")
    assert len(sessions) == 0
    assert sessions.sweep_once() is None


def test_a_connect_still_being_decided_at_the_deadline_is_not_cut_off(server, clock):
    sessions = watch(server, clock)
    server.accepts.add("/")
    handshake(server, "a")

    def slow_lookup() -> None:
        clock.now += TIMEOUT + 1
        sessions.sweep_once()
        assert not closed(server, "a")

    server.while_deciding = slow_lookup
    send(server, "a", "0")
    assert server.connected == {("a", "/")} and len(sessions) == 0
    sessions.sweep_once()
    assert not closed(server, "a")
