"""The user:/session: rooms (realtime/rooms.py): who a push reaches, what rooms() says, with and without the registry.

Real server (threading mode), real python-socketio clients, sessions in the
ArangoDB test server. Every test runs with ``REALTIME_REGISTRY_ROOMS`` on
(the default) and off (python-socketio rooms), and the two must agree on
everything a client or a handler can observe.
"""

from __future__ import annotations

import time
import typing as t

import pytest
import socketio as socketio_lib
from flask import Flask, jsonify, request
from flask_socketio import SocketIO, join_room, rooms

from realtime import Realtime, emit_to_user
from realtime.auth import SESSION_KEY
from realtime.extension import get_state
from realtime.rooms import RegistryRooms, is_identity_room, session_room, user_room
from tests.support.hardening import cookie_signer
from tests.support.live import login, session_info
from tests.support.procs import Browser, connect, hang_up

#: How long a test waits to be sure an event is *not* delivered.
QUIET = 0.3


@pytest.fixture(params=[True, False], ids=["registry", "socketio-rooms"])
def registry(request):
    return request.param


@pytest.fixture
def rooms_app(live_app, registry):
    """The reference app with alice, bob and test routes, the rooms option as parametrized; (app, server)."""
    app, server = live_app(REALTIME_REGISTRY_ROOMS=registry)
    socketio = get_state(app).socketio

    @socketio.on("_test_rooms")
    def my_rooms(_data: t.Any = None) -> list[str]:
        return sorted(rooms())

    @socketio.on("_test_join")
    def join(room: str) -> bool:
        join_room(room)
        return True

    @app.post("/_test/emit")
    def emit_to_rooms() -> t.Any:
        body = request.get_json(force=True)
        socketio.emit("news", body["data"], to=body["to"])
        return jsonify(ok=True)

    @app.post("/_test/push-chat")
    def push_chat() -> t.Any:
        emit_to_user("alice", "news", "chat only", namespace="/chat")
        return jsonify(ok=True)

    socketio.on("ping", namespace="/chat")(lambda *_: "pong")
    return app, server


def news(watched, count: int = 1, timeout: float = 5.0) -> list[t.Any]:
    """The ``news`` payloads ``watched`` got, once it has ``count`` (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(watched.events("news")) < count:
        time.sleep(0.01)
    return [payload for _, payload in watched.events("news")]


def socketio_room_names(app: Flask) -> set[str]:
    """The rooms python-socketio itself keeps entries for, on every namespace."""
    manager = get_state(app).socketio.server.manager
    return {room for namespace in manager.rooms.values() for room in namespace if isinstance(room, str)}


def test_the_option_decides_who_keeps_identity_rooms(rooms_app, clients, registry):
    app, server = rooms_app
    alice = login(server)
    clients(server, alice)
    sid = session_info(alice)["sid"]

    assert get_state(app).registry_rooms is registry
    manager = get_state(app).socketio.server.manager
    # realtime's manager either way (it caps rooms per socket); the registry is attached only when on.
    assert isinstance(manager, RegistryRooms) and (manager.connections is not None) is registry
    kept = socketio_room_names(app)
    # With the registry, python-socketio keeps no entry per identity room.
    assert (user_room("alice") in kept, session_room(sid) in kept) == (not registry, not registry)


def test_pushes_reach_the_users_and_sessions_sockets_and_no_one_else(rooms_app, clients):
    app, server = rooms_app
    first, second, bob = login(server), login(server), login(server, "bob")
    a1, a2, b = (
        clients(server, first),
        clients(server, second, transports=["polling", "websocket"]),
        clients(server, bob),
    )
    for watched in (a1, a2, b):
        watched.listen("news")

    sender = Browser(server.url)
    sender.request("POST", "/_test/push/user/alice", json={"event": "news", "data": 1})
    assert news(a1) == [1] and news(a2) == [1]
    sender.request("POST", f"/_test/push/session/{session_info(first)['sid']}", json={"event": "news", "data": 2})
    assert news(a1, 2) == [1, 2]
    time.sleep(QUIET)
    assert news(a2) == [1] and news(b) == []


def test_rooms_lists_the_identity_rooms(rooms_app, clients):
    app, server = rooms_app
    alice = login(server)
    watched = clients(server, alice)
    sid = session_info(alice)["sid"]

    listed = watched.client.call("_test_rooms", timeout=5)
    assert user_room("alice") in listed and session_room(sid) in listed
    assert watched.client.get_sid("/") in listed  # the socket's own room, as python-socketio lists it
    assert len(listed) == len(set(listed)) == 3


def test_a_list_of_rooms_reaches_each_socket_once(rooms_app, clients):
    app, server = rooms_app
    alice, bob, bob_elsewhere = login(server), login(server, "bob"), login(server, "bob")
    a, b, other = clients(server, alice), clients(server, bob), clients(server, bob_elsewhere)
    for watched in (a, b, other):
        watched.listen("news")
    # alice is in the conversation too: one delivery, not two.
    assert a.client.call("_test_join", "conversation:x", timeout=5) is True
    assert b.client.call("_test_join", "conversation:x", timeout=5) is True

    Browser(server.url).request("POST", "/_test/emit", json={"to": [user_room("alice"), "conversation:x"], "data": 7})
    assert news(a) == [7] and news(b) == [7]
    time.sleep(QUIET)
    assert news(a) == [7] and news(other) == []


def test_joining_another_users_room_explicitly_still_works(rooms_app, clients):
    app, server = rooms_app
    alice, bob = login(server), login(server, "bob")
    a, b = clients(server, alice), clients(server, bob)
    for watched in (a, b):
        watched.listen("news")
    assert a.client.call("_test_join", user_room("bob"), timeout=5) is True

    Browser(server.url).request("POST", "/_test/push/user/bob", json={"event": "news", "data": "for bob"})
    assert news(b) == ["for bob"] and news(a) == ["for bob"]
    assert user_room("bob") in a.client.call("_test_rooms", timeout=5)


def test_a_disconnected_socket_is_in_no_room(rooms_app, clients):
    app, server = rooms_app
    alice = login(server)
    gone, staying = clients(server, alice), clients(server, alice)
    staying.listen("news")
    gone.listen("news")
    gone_sid = gone.client.get_sid("/")
    hang_up(gone.client)
    assert gone.wait_ended(5)
    deadline = time.monotonic() + 5
    while len(get_state(app).connections) != 1 and time.monotonic() < deadline:
        time.sleep(0.01)

    Browser(server.url).request("POST", "/_test/push/user/alice", json={"event": "news", "data": 3})
    assert news(staying) == [3]
    assert news(gone, timeout=QUIET) == []
    manager = get_state(app).socketio.server.manager
    assert not any(gone_sid in members for namespace in manager.rooms.values() for members in namespace.values())
    assert gone_sid not in manager.get_rooms(gone_sid, "/")
    assert not any(is_identity_room(room) for room in manager.get_rooms(gone_sid, "/"))


def test_identity_rooms_are_per_namespace(rooms_app):
    app, server = rooms_app
    alice = login(server)
    root = connect(server.url, alice.cookie_header)
    chat = connect(server.url, alice.cookie_header, namespace="/chat")
    try:
        got: dict[str, list[t.Any]] = {"/": [], "/chat": []}
        root.on("news", lambda data: got["/"].append(data))
        chat.on("news", lambda data: got["/chat"].append(data), namespace="/chat")

        Browser(server.url).request("POST", "/_test/push-chat")
        deadline = time.monotonic() + 5
        while not got["/chat"] and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(QUIET)
        assert got == {"/": [], "/chat": ["chat only"]}
    finally:
        hang_up(root)
        hang_up(chat)


def test_an_app_with_its_own_client_manager_keeps_socketio_rooms(tmp_path, serve):
    """A SocketIO the app built itself keeps its manager; sockets then join python-socketio rooms."""
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY="k" * 48, REALTIME_ENV="development", REALTIME_ASYNC_MODE="threading")
    socketio = SocketIO(app, async_mode="threading", client_manager=socketio_lib.Manager())
    Realtime(app, socketio)
    state = get_state(app)
    record = state.store.create("alice", 3600)
    cookie = {"Cookie": f"session={cookie_signer(app.secret_key)({SESSION_KEY: record.sid})}"}
    received: list[t.Any] = []

    server = serve(app)
    try:
        client = connect(server.url, cookie)
        client.on("news", received.append)
        with app.app_context():
            emit_to_user("alice", "news", "hello")
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == ["hello"]
        assert state.registry_rooms is False
        assert {user_room("alice"), session_room(record.sid)} <= socketio_room_names(app)
        hang_up(client)
    finally:
        state.live.stop()


# -- the cap on rooms per socket (RoomLimit) ----------------------------------------------


class _Server:
    """What python-socketio's manager asks of its server when a socket connects."""

    def __init__(self) -> None:
        self.eio = type("EIO", (), {"generate_id": staticmethod(lambda: f"sid-{time.monotonic_ns()}")})()


@pytest.fixture
def capped():
    from realtime.rooms import RegistryRoomsManager, limit_rooms

    manager = RegistryRoomsManager()
    manager.server = _Server()
    assert limit_rooms(manager, 3)
    return manager


def test_a_socket_may_be_in_at_most_the_limit_of_rooms(capped):
    from realtime.errors import TooManyRooms

    sid = capped.connect("eio-1", "/")
    other = capped.connect("eio-2", "/")
    for room in ("a", "b", "c", "c"):  # a room it is in already does not count twice
        capped.enter_room(sid, "/", room)
    capped.enter_room(sid, "/", user_room("alice"))  # identity rooms never count
    with pytest.raises(TooManyRooms) as info:
        capped.enter_room(sid, "/", "d")
    assert info.value.ack() == {"ok": False, "error": "too_many_rooms", "message": info.value.message}
    assert "d" not in capped.get_rooms(sid, "/")
    capped.enter_room(other, "/", "d")  # per socket

    capped.leave_room(sid, "/", "a")
    capped.leave_room(sid, "/", "a")  # leaving twice frees one place, not two
    capped.enter_room(sid, "/", "d")
    with pytest.raises(TooManyRooms):
        capped.enter_room(sid, "/", "e")

    capped.close_room("d", "/")
    capped.enter_room(sid, "/", "e")
    capped.disconnect(sid, "/")
    capped.disconnect(other, "/")
    assert capped._room_counts == {}  # nothing kept for sockets that left


def test_no_cap_with_zero_and_none_for_a_manager_the_app_built():
    from realtime.rooms import RegistryRoomsManager, limit_rooms

    manager = RegistryRoomsManager()
    manager.server = _Server()
    assert limit_rooms(manager, 0)
    sid = manager.connect("eio-1", "/")
    for i in range(500):
        manager.enter_room(sid, "/", f"room-{i}")
    assert len(manager.get_rooms(sid, "/")) == 501 and manager._room_counts == {}
    assert limit_rooms(socketio_lib.Manager(), 3) is False
