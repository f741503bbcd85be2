"""The connect guard, through a real server (threading mode) and real Socket.IO clients.

Every refusal reason is asserted as the client sees it: the message and
``data.reason`` of the ``connect_error``.
"""

from __future__ import annotations

import logging
import time

import pytest
from flask_socketio import SocketIO

from realtime import Realtime, SessionRecord, SessionStore
from realtime.errors import ConfigError
from realtime.sessions import new_session_id
from tests.support.procs import Browser, Refused, connect, free_port, hang_up

TRANSPORTS = [["websocket"], ["polling", "websocket"]]


def signed_cookie(app, payload) -> dict[str, str]:
    """A cookie signed with the app's real key, carrying any payload we like."""
    value = app.session_interface.get_signing_serializer(app).dumps(payload)
    return {"Cookie": f"session={value}"}


@pytest.fixture
def live(make_app, serve):
    app = make_app()
    app.extensions["realtime.users"].set_password("alice", "alice-pw")
    return serve(app)


def refusal(url, headers=None, transports=None) -> Refused:
    with pytest.raises(Refused) as info:
        connect(url, headers, transports)
    return info.value


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_logged_in_browser_connects_and_chats(live, transports):
    browser = Browser(live.url)
    assert browser.login("alice", "alice-pw").status_code == 302
    client = connect(live.url, browser.cookie_header, transports)
    try:
        assert client.call("join", {"conversation": "general"}, timeout=5)["ok"] is True
        received = []
        client.on("message", received.append)
        ack = client.call("message", {"conversation": "general", "text": "hello"}, timeout=5)
        assert ack["ok"] is True
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert received and received[0]["uid"] == "alice" and received[0]["text"] == "hello"
        assert set(received[0]) == {"id", "conversation", "uid", "text", "ts"}
    finally:
        hang_up(client)


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_no_cookie_is_refused(live, transports):
    refused = refusal(live.url, transports=transports)
    assert (refused.message, refused.reason) == ("Cookie not found", "no_cookie")


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "eyJzaWQiOiJ4In0.bad.signature", "", "session-without-dots", "a" * 4000],
)
def test_bad_signature_is_refused_as_no_cookie(live, cookie):
    refused = refusal(live.url, {"Cookie": f"session={cookie}"})
    assert refused.reason == "no_cookie"


def test_signed_cookie_without_sid_is_no_cookie(live):
    refused = refusal(live.url, signed_cookie(live.app, {"other": "x"}))
    assert (refused.message, refused.reason) == ("Cookie not found", "no_cookie")


@pytest.mark.parametrize("sid", [12, ["a"], {"a": 1}, "x" * 10_000, "a" * 42 + "/", "%41" * 15, "a" * 40 + ".."])
def test_signed_cookie_with_malformed_sid_is_unknown(live, sid):
    refused = refusal(live.url, signed_cookie(live.app, {"sid": sid}))
    assert (refused.message, refused.reason) == ("Session is not authenticated", "unknown_session")


def test_unknown_sid_is_refused(live):
    refused = refusal(live.url, signed_cookie(live.app, {"sid": new_session_id()}))
    assert (refused.message, refused.reason) == ("Session is not authenticated", "unknown_session")


def test_expired_session_is_refused(live):
    store = live.app.extensions["realtime"].store
    now = time.time()
    record = SessionRecord(new_session_id(), "alice", now - 100, now - 1)
    store.save(record)
    refused = refusal(live.url, signed_cookie(live.app, {"sid": record.sid}))
    assert refused.reason == "unknown_session"


def test_anonymous_session_is_refused(live):
    browser = Browser(live.url)
    browser.request("GET", "/login")  # a first visit gets a session id
    assert browser.cookie
    browser.request("GET", "/login")  # coming back with it writes the anonymous record
    refused = refusal(live.url, browser.cookie_header)
    assert (refused.message, refused.reason) == ("Session is not authenticated", "anonymous")


@pytest.fixture
def arango_live(make_app, serve, arango_config):
    app = make_app(**arango_config)
    with app.app_context():
        app.extensions["realtime"].extension.init_db()
    return serve(app)


@pytest.mark.parametrize("uid", [0, "", [], {}, None, True, 3.5, "   ", -4])
def test_record_with_unusable_uid_is_anonymous(arango_live, uid):
    """A record written by another service with a surprising uid never lets a socket in."""
    store = arango_live.app.extensions["realtime"].store
    sid = new_session_id()
    now = time.time()
    store.collection.insert({"_key": sid, "uid": uid, "created_at": now, "expires_at": now + 60})
    refused = refusal(arango_live.url, signed_cookie(arango_live.app, {"sid": sid}))
    assert refused.reason == "anonymous"
    assert store.collection.get(sid)["uid"] == uid  # refusing touched nothing


def test_arango_backed_login_connects(arango_live):
    arango_live.app.extensions["realtime.users"].set_password("carol", "carol-pw")
    browser = Browser(arango_live.url)
    assert browser.login("carol", "carol-pw").status_code == 302
    hang_up(connect(arango_live.url, browser.cookie_header))


def test_logout_ends_the_session_for_new_sockets(live):
    browser = Browser(live.url)
    browser.login("alice", "alice-pw")
    old_cookie = browser.cookie_header
    assert browser.logout().status_code == 302
    assert refusal(live.url, old_cookie).reason == "unknown_session"


def test_login_issues_a_new_sid(live):
    browser = Browser(live.url)
    browser.request("GET", "/login")
    anonymous = live.app.session_interface.get_signing_serializer(live.app).loads(browser.cookie)["sid"]
    browser.login("alice", "alice-pw")
    logged_in = live.app.session_interface.get_signing_serializer(live.app).loads(browser.cookie)["sid"]
    assert anonymous != logged_in
    assert live.app.extensions["realtime"].store.get(anonymous) is None


class BrokenStore(SessionStore):
    """A store with a bug: every read raises something unexpected."""

    kind = "broken"

    def _load(self, sid):
        raise RuntimeError("bug in a custom store")

    _load_many = _of_user = _recent = _save = _delete = _purge_expired = _load


def bare_app(tmp_path, store=None):
    """An app that is not the reference app: just Flask, Flask-SocketIO and the extension."""
    from flask import Flask

    app = Flask("bare", instance_path=str(tmp_path / "bare-instance"))
    app.config.update(SECRET_KEY="k" * 40, REALTIME_ASYNC_MODE="threading", REALTIME_ENV="development")
    if store is not None:
        app.config["REALTIME_SESSION_STORE"] = store
    socketio = SocketIO()
    Realtime(app, socketio)
    return app


def test_unreachable_store_refuses_with_unavailable_and_logs(make_app, serve, caplog):
    app = make_app(ARANGO_URL=f"http://127.0.0.1:{free_port()}", ARANGO_TIMEOUT=1.0)
    live = serve(app)
    sid = new_session_id()
    with caplog.at_level(logging.INFO, logger="realtime"):
        refused = refusal(live.url, signed_cookie(app, {"sid": sid}))
    assert (refused.message, refused.reason) == ("Session store unavailable", "unavailable")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "realtime.guard"]
    assert len(errors) == 1
    assert errors[0].tags == ("socket", "error", "authentication")
    assert "cannot connect" in errors[0].getMessage()
    for record in caplog.records:
        assert sid not in record.getMessage()


def test_unexpected_exception_refuses_even_with_error_handler_that_returns_none(tmp_path, serve):
    app = bare_app(tmp_path, BrokenStore())
    socketio: SocketIO = app.extensions["socketio"]

    @socketio.on_error_default
    def swallow(exc):  # the classic fail-open: returns None for connect
        return None

    live = serve(app)
    refused = refusal(live.url, signed_cookie(app, {"sid": new_session_id()}))
    assert refused.reason == "unavailable"


def test_replacing_the_connect_handler_fails_closed(make_app, serve, caplog):
    app = make_app()
    socketio: SocketIO = app.extensions["socketio"]

    @socketio.on("connect")
    def open_door(auth=None):
        return True

    live = serve(app)
    with pytest.raises(Exception) as info:
        connect(live.url, transports=["polling"])
    assert not isinstance(info.value, Refused) or info.value.reason is None
    assert any("not realtime's" in r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL)


def test_new_namespace_gets_the_guard(make_app, serve):
    app = make_app()
    socketio: SocketIO = app.extensions["socketio"]

    @socketio.on("ping", namespace="/admin")
    def admin_ping():
        return "pong"

    live = serve(app)
    import socketio as sio

    client = sio.Client(reconnection=False)
    reasons = []
    client.on("connect_error", lambda data: reasons.append(data), namespace="/admin")
    with pytest.raises(sio.exceptions.ConnectionError):
        client.connect(live.url, namespaces=["/admin"], transports=["websocket"], wait_timeout=5)
    hang_up(client)
    assert reasons and reasons[0]["data"]["reason"] == "no_cookie"


def test_always_connect_is_a_config_error(make_app, tmp_path):
    from flask import Flask

    app = Flask("x", instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="k" * 32, REALTIME_ASYNC_MODE="threading")
    socketio = SocketIO(app, async_mode="threading", always_connect=True)
    with pytest.raises(ConfigError, match="always_connect"):
        Realtime(app, socketio)


def test_a_new_login_in_the_same_browser_ends_the_previous_sessions_sockets(live):
    live.app.extensions["realtime.users"].set_password("bob", "bob-pw")
    browser = Browser(live.url)
    browser.login("alice", "alice-pw")
    client = connect(live.url, browser.cookie_header)
    ended = []
    client.on("session_ended", ended.append)
    try:
        browser.login("bob", "bob-pw")  # e.g. someone else at the same computer
        deadline = time.monotonic() + 5
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not client.connected
        assert ended == [{"reason": "logout"}]
    finally:
        hang_up(client)


@pytest.mark.parametrize("event", ["connect", "disconnect"])
def test_identity_handlers_cannot_replace_the_guard(make_app, event):
    realtime = make_app().extensions["realtime"].extension
    with pytest.raises(ConfigError, match=f"realtime.on_{event}"):
        realtime.on(event)(lambda socket: None)
