"""Live sockets follow their session within one instance: threading mode, real server and clients, ArangoDB.

The same machinery runs on every instance; tests/test_live_cluster.py covers
what crosses instances.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from realtime import revoke_session, revoke_user
from realtime.errors import ConfigError
from realtime.extension import get_state
from realtime.sessions import SessionStore
from tests.support.live import add_test_routes, login, session_info
from tests.support.procs import Browser, Refused, connect

#: The spec's bound for ending sockets after logout, revocation or expiry.
WITHIN = 1.0


def until(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_logout_ends_that_sessions_sockets_and_only_those(live_app, clients):
    app, server = live_app()
    first, second = login(server), login(server)
    tab_a, tab_b = clients(server, first), clients(server, first, transports=["polling", "websocket"])
    other_session = clients(server, second)

    started = time.monotonic()
    assert first.logout().status_code == 302
    assert tab_a.wait_ended(WITHIN) and tab_b.wait_ended(WITHIN)
    assert tab_a.ended_by_server("logout") and tab_b.ended_by_server("logout")
    assert max(tab_a.time_of("disconnect"), tab_b.time_of("disconnect")) - started < WITHIN
    assert other_session.alive()
    assert len(get_state(app).connections) == 1


def test_revoke_session_and_revoke_user(live_app, clients):
    app, server = live_app()
    first, second, bob = login(server), login(server), login(server, "bob")
    a1, a2, b = clients(server, first), clients(server, second), clients(server, bob)

    with app.app_context():
        revoke_session(session_info(first)["sid"])
    assert a1.wait_ended(WITHIN) and a1.ended_by_server("revoked")
    assert a2.alive() and b.alive()

    second_sid = session_info(second)["sid"]
    with app.app_context():
        assert revoke_user("alice") == [second_sid]
    assert a2.wait_ended(WITHIN) and a2.ended_by_server("revoked")
    assert b.alive()
    with pytest.raises(Refused) as refused:
        connect(server.url, second.cookie_header)
    assert refused.value.reason == "unknown_session"


def test_socket_is_ended_at_expiry_not_before(live_app, clients):
    app, server = live_app()
    browser = login(server)
    info = session_info(browser)
    store = get_state(app).store
    record = store.get(info["sid"])
    expires_at = time.time() + 1.5
    store.save(record.__class__(record.sid, record.uid, record.created_at, expires_at))
    socket = clients(server, browser)

    assert not socket.disconnected.wait(max(0.0, expires_at - time.time() - 0.2)), "ended before its expiry"
    assert socket.wait_ended(expires_at - time.time() + WITHIN + 0.5)
    ended_at_wall = time.time() - (time.monotonic() - socket.time_of("disconnect"))
    assert expires_at <= ended_at_wall + 0.05 and ended_at_wall - expires_at < WITHIN
    assert socket.ended_by_server("expired")


def test_revalidation_ends_records_deleted_or_stripped_in_the_database(live_app, clients, arango_server, arango_config):
    app, server = live_app(REALTIME_REVALIDATE_INTERVAL=0.5)
    deleted, stripped, kept = login(server), login(server), login(server, "bob")
    a, b, c = clients(server, deleted), clients(server, stripped), clients(server, kept)

    client = arango_server.client()
    try:
        sessions = arango_server.db(client, arango_config["ARANGO_DB"]).collection("sessions")
        sessions.delete(session_info(deleted)["sid"])
        sessions.update({"_key": session_info(stripped)["sid"], "uid": None}, keep_none=False)
    finally:
        client.close()
    assert a.wait_ended(5) and b.wait_ended(5)
    assert a.ended_by_server("revoked") and b.ended_by_server("revoked")
    assert c.alive()


def test_revalidation_during_a_store_outage_disconnects_nobody(live_app, clients, arango_server, caplog):
    app, server = live_app(REALTIME_REVALIDATE_INTERVAL=0.3)
    browser = login(server)
    socket = clients(server, browser)
    live = get_state(app).live
    with caplog.at_level(logging.WARNING, logger="realtime.live"):
        with arango_server.faults(fail_reads=True):
            assert live.revalidate() is None
            time.sleep(1.5)  # several scheduled passes fail too
            assert socket.alive()
    assert "Revalidation of 1 live session(s) skipped" in caplog.text
    assert socket.alive()
    # Back to normal, revalidation works again.
    verdict = live.revalidate()
    assert verdict is not None and verdict.ended == []


def test_sliding_session_extends_and_the_socket_follows(live_app, clients):
    lifetime = 3.0
    app, server = live_app(REALTIME_SLIDING_SESSIONS=True, REALTIME_SESSION_LIFETIME=lifetime)
    browser = login(server)
    first_expiry = session_info(browser)["expires_at"]
    socket = clients(server, browser)
    time.sleep(lifetime * 0.3)  # beyond the 10% that triggers a rewrite
    assert browser.request("GET", "/chat").status_code == 200
    new_expiry = get_state(app).store.get(session_info(browser)["sid"]).expires_at
    assert new_expiry > first_expiry + lifetime * 0.25
    identity = next(identity for _, identity in get_state(app).connections.items())
    assert identity.expires_at == new_expiry

    time.sleep(max(0.0, first_expiry - time.time() + 0.5))
    assert socket.alive(), "ended at the old expiry"
    assert socket.wait_ended(new_expiry - time.time() + WITHIN + 0.5)
    assert socket.ended_by_server("expired")


def test_without_sliding_activity_does_not_extend(live_app):
    app, server = live_app(REALTIME_SESSION_LIFETIME=60)
    browser = login(server)
    before = session_info(browser)["expires_at"]
    time.sleep(0.2)
    browser.request("GET", "/chat")
    assert session_info(browser)["expires_at"] == before


def test_sliding_never_resurrects_a_revoked_session(live_app):
    app, server = live_app(REALTIME_SLIDING_SESSIONS=True)
    store = get_state(app).store
    browser = login(server)
    sid = session_info(browser)["sid"]
    store.delete(sid)
    assert store.extend(sid, time.time() + 100) is False
    assert store.get(sid) is None


@pytest.mark.parametrize("via", ["view", "task"])
def test_push_from_a_view_or_background_task_reaches_the_right_sockets(live_app, clients, via):
    app, server = live_app()
    first, second, bob = login(server), login(server), login(server, "bob")
    a1, a2, b = clients(server, first), clients(server, second), clients(server, bob)
    for watched in (a1, a2, b):
        watched.listen("news")

    sender = Browser(server.url)
    sender.request("POST", f"/_test/push/user/alice?via={via}", json={"event": "news", "data": {"n": 1}})
    assert a1.wait_for("news") == [{"n": 1}] and a2.wait_for("news") == [{"n": 1}]
    sid = session_info(first)["sid"]
    sender.request("POST", f"/_test/push/session/{sid}?via={via}", json={"event": "news", "data": {"n": 2}})
    assert until(lambda: len(a1.events("news")) == 2)
    assert a1.events("news")[1] == ("news", {"n": 2})
    time.sleep(0.3)
    assert len(a2.events("news")) == 1 and b.events("news") == []


class GatedStore:
    """Wraps a store; ``get`` pauses after reading while ``gate`` is cleared (to open a race window)."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.gate = threading.Event()
        self.gate.set()
        self.reading = threading.Event()

    def __getattr__(self, name):
        return getattr(self.store, name)

    def get(self, sid):
        record = self.store.get(sid)
        self.reading.set()
        self.gate.wait(10)
        return record


def test_revocation_racing_a_connect_still_ends_the_socket(make_app, arango_config, serve, clients):
    """A socket whose record was read just before its session was revoked ends as soon as it is connected."""
    app = make_app(**arango_config)
    with app.app_context():
        get_state(app).extension.init_db()
    app.extensions["realtime.users"].set_password("alice", "alice-pw")
    add_test_routes(app)
    state = get_state(app)
    gated = GatedStore(state.store)
    server = serve(app)
    try:
        browser = login(server)
        sid = session_info(browser)["sid"]
        state.store = gated  # from now on the guard reads through the gate
        gated.gate.clear()
        result: dict = {}
        connecting = threading.Thread(target=lambda: result.update(socket=clients(server, browser)))
        connecting.start()
        assert gated.reading.wait(5)
        with app.app_context():
            revoke_session(sid)  # the record is gone, the guard already read it
        gated.gate.set()
        connecting.join(10)
        socket = result["socket"]
        assert socket.wait_ended(WITHIN + 0.5)
        assert socket.ended_by_server("revoked")
    finally:
        gated.gate.set()
        state.live.stop()


def test_revocation_during_a_connect_hook_ends_the_socket_once_connected(live_app, clients):
    app, server = live_app()
    state = get_state(app)
    in_hook, release = threading.Event(), threading.Event()

    @state.extension.on_connect
    def slow_hook(identity):
        in_hook.set()
        release.wait(10)

    browser = login(server)
    sid = session_info(browser)["sid"]
    result: dict = {}
    connecting = threading.Thread(target=lambda: result.update(socket=clients(server, browser)))
    connecting.start()
    try:
        assert in_hook.wait(5)
        with app.app_context():
            revoke_session(sid)
    finally:
        release.set()
        state.extension._connect_hooks.remove(slow_hook)
    connecting.join(10)
    socket = result["socket"]
    assert socket.wait_ended(WITHIN + 0.5)
    assert socket.ended_by_server("revoked")


def test_embedded_store_with_a_message_queue_is_a_startup_error(make_app):
    with pytest.raises(ConfigError, match="embedded"):
        make_app(REDIS_URL="redis://127.0.0.1:6379/0")


def test_a_queue_other_than_redis_is_a_startup_error(make_app, arango_config):
    with pytest.raises(ConfigError, match="redis:// or rediss://"):
        make_app(**arango_config, REALTIME_MESSAGE_QUEUE="amqp://guest:guest@127.0.0.1:5672//")


@pytest.mark.parametrize("kind", ["arangodb", "embedded"])
def test_store_extend_updates_only_existing_records(kind, make_app, arango_config):
    app = make_app(**(arango_config if kind == "arangodb" else {}))
    store = get_state(app).store
    with app.app_context():
        get_state(app).extension.init_db()
    record = store.create("alice", 100)
    assert store.extend(record.sid, record.expires_at + 50) is True
    updated = store.get(record.sid)
    assert (updated.uid, updated.created_at, updated.expires_at) == ("alice", record.created_at, record.expires_at + 50)
    store.delete(record.sid)
    assert store.extend(record.sid, record.expires_at + 100) is False
    assert store.get(record.sid) is None
    assert store.extend("not a session id", 1.0) is False


def test_a_socket_whose_record_was_read_just_before_its_revocation_is_ended(live_app, clients):
    """The race: the connect reads the record, the session is revoked, then the socket registers.

    The revocation found no socket to end, so the instance must remember it
    for the socket that registers afterwards. Revalidation is off: nothing
    else would end it.
    """
    app, server = live_app(REALTIME_REVALIDATE_INTERVAL=0)
    browser = login(server)
    sid = session_info(browser)["sid"]
    store = get_state(app).store
    read = store.get

    def read_then_revoke(session_id):
        record = read(session_id)
        if session_id == sid:
            with app.app_context():
                revoke_session(sid)
        return record

    store.get = read_then_revoke
    socket = clients(server, browser)
    assert socket.wait_ended(WITHIN) and socket.ended_by_server("revoked")
