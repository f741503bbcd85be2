"""Identity handlers (``@realtime.on``), through a real server (threading mode) and real Socket.IO clients."""

from __future__ import annotations

import logging
import time

import pytest
from flask import current_app, g, has_request_context

from realtime.errors import ConfigError
from tests.support.procs import Browser, Refused, connect, hang_up


@pytest.fixture
def app(make_app):
    app = make_app()
    users = app.extensions["realtime.users"]
    users.set_password("alice", "alice-pw")
    users.set_password("bob", "bob-pw")
    return app


def realtime_of(app):
    return app.extensions["realtime"].extension


def logged_in(url: str, name: str, namespace: str = "/"):
    browser = Browser(url)
    assert browser.login(name, f"{name}-pw").status_code == 302
    return connect(url, browser.cookie_header, namespace=namespace)


def wait_for(items: list, count: int = 1, timeout: float = 5) -> list:
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return items


def test_handler_gets_the_authenticated_socket_and_its_return_is_the_ack(app, serve):
    @realtime_of(app).on("whoami")
    def whoami(socket, payload):
        g.seen = payload
        return {
            "uid": socket.uid,
            "session_is_the_guards": socket.identity.session_id is not None,
            "app": current_app.name,
            "request_context": has_request_context(),
            "echo": g.seen,
        }

    live = serve(app)
    alice = logged_in(live.url, "alice")
    try:
        answer = alice.call("whoami", {"n": 1}, timeout=5)
    finally:
        hang_up(alice)
    assert answer == {
        "uid": "alice",
        "session_is_the_guards": True,
        "app": app.name,
        "request_context": False,
        "echo": {"n": 1},
    }


def test_a_failing_handler_is_logged_answered_empty_and_the_socket_stays(app, serve, caplog):
    @realtime_of(app).on("boom")
    def boom(socket, payload=None):
        raise RuntimeError("handler bug")

    live = serve(app)
    alice = logged_in(live.url, "alice")
    try:
        with caplog.at_level(logging.ERROR, logger="realtime.events"):
            assert alice.call("boom", {}, timeout=5) is None
        assert alice.call("echo", {"still": "here"}, timeout=5) == {"still": "here"}
    finally:
        hang_up(alice)
    failures = [r for r in caplog.records if r.name == "realtime.events"]
    assert len(failures) == 1
    assert "'boom' failed (uid alice)" in failures[0].getMessage()
    assert failures[0].exc_info and failures[0].exc_info[0] is RuntimeError


def test_emit_to_self_and_to_a_room_without_self(app, serve):
    @realtime_of(app).on("poke")
    def poke(socket, room):
        socket.join(room)
        socket.emit("poked", {"by": socket.uid})  # back to this socket only
        socket.emit("room", {"from": socket.uid}, to=room, include_self=False)

    live = serve(app)
    alice, bob = logged_in(live.url, "alice"), logged_in(live.url, "bob")
    got: dict[str, list] = {"alice_poked": [], "alice_room": [], "bob_poked": [], "bob_room": []}
    alice.on("poked", got["alice_poked"].append)
    alice.on("room", got["alice_room"].append)
    bob.on("poked", got["bob_poked"].append)
    bob.on("room", got["bob_room"].append)
    try:
        bob.call("poke", "lobby", timeout=5)  # bob joins and is alone: nobody else hears
        alice.call("poke", "lobby", timeout=5)  # alice joins: bob hears her, she does not
        wait_for(got["bob_room"])
        wait_for(got["alice_poked"])
    finally:
        hang_up(alice)
        hang_up(bob)
    assert got["alice_poked"] == [{"by": "alice"}] and got["bob_poked"] == [{"by": "bob"}]
    assert got["bob_room"] == [{"from": "alice"}]
    assert got["alice_room"] == []


def test_a_new_namespace_is_guarded_before_its_handlers_run(app, serve):
    calls = []

    @realtime_of(app).on("hello", namespace="/team")
    def hello(socket, payload=None):
        calls.append(socket.uid)
        return {"namespace": socket.namespace, "uid": socket.uid}

    live = serve(app)
    with pytest.raises(Refused) as refused:
        connect(live.url, namespace="/team")
    assert refused.value.reason == "no_cookie"
    alice = logged_in(live.url, "alice", namespace="/team")
    try:
        assert alice.call("hello", namespace="/team", timeout=5) == {"namespace": "/team", "uid": "alice"}
    finally:
        hang_up(alice)
    assert calls == ["alice"]


@pytest.mark.parametrize("event", ["connect", "disconnect"])
def test_connect_and_disconnect_cannot_be_identity_handlers(app, event):
    with pytest.raises(ConfigError, match=f"realtime.on_{event}"):
        realtime_of(app).on(event)(lambda socket: None)
