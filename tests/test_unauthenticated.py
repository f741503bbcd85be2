"""Unauthenticated Engine.IO sessions, in-process (threading mode): configuration, kept headers, slow connects.

The attacks against the real gunicorn + eventlet worker are in
``tests/test_hardening_unauthenticated.py``.
"""

from __future__ import annotations

import time

import pytest
from flask import request
from flask_socketio import SocketIO

from realtime.errors import ConfigError
from realtime.extension import get_state
from tests.support.procs import Browser, connect, hang_up


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ({"REALTIME_CONNECT_TIMEOUT": "soon"}, "must be a number"),
        ({"REALTIME_CONNECT_TIMEOUT": True}, "must be a number"),
        ({"REALTIME_CONNECT_TIMEOUT": 0}, "more than 0 seconds"),
        ({"REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS": -1}, "not negative"),
        ({"REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS": 2.5}, "whole number"),
        ({"REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS": None}, "whole number"),
        ({"REALTIME_HANDSHAKE_HEADERS": 5}, "must be a string or a list"),
        ({"REALTIME_HANDSHAKE_HEADERS": ["X-Ok", 1]}, "not a list of header names"),
    ],
)
def test_wrong_settings_are_startup_errors_naming_the_key(make_app, setting, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        make_app(**setting)
    assert next(iter(setting)) in str(info.value)


@pytest.fixture
def live(make_app, serve):
    def start(**config):
        app = make_app(**config)
        app.extensions["realtime.users"].set_password("alice", "alice-pw")
        return app, serve(app)

    return start


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
def test_a_socket_keeps_only_the_handshake_headers_the_app_reads(live, transports):
    app, server = live(REALTIME_HANDSHAKE_HEADERS="X-Client-Version, x-device")
    socketio: SocketIO = app.extensions["socketio"]

    @socketio.on("headers")
    def headers():
        return sorted(request.headers.keys())

    browser = Browser(server.url)
    browser.login("alice", "alice-pw")
    sent = {
        **browser.cookie_header,
        "User-Agent": "test-agent",
        "X-Client-Version": "7",
        "X-Device": "phone",
        "X-Pad": "a" * 4000,
    }
    client = connect(server.url, sent, transports)
    try:
        kept = set(client.call("headers", timeout=10))
    finally:
        hang_up(client)
    assert {"Cookie", "User-Agent", "X-Client-Version", "X-Device", "Host"} <= kept
    assert "X-Pad" not in kept


def test_a_connect_still_being_decided_at_the_deadline_is_not_cut_off(live):
    app, server = live(REALTIME_CONNECT_TIMEOUT=0.3)
    state = get_state(app)
    read = state.store.get

    def slow_read(sid):
        time.sleep(1.0)  # a slow database: the decision outlasts the connect timeout
        return read(sid)

    browser = Browser(server.url)
    browser.login("alice", "alice-pw")
    state.store.get = slow_read
    client = connect(server.url, browser.cookie_header, timeout=10)
    try:
        time.sleep(0.6)  # two timeouts after the accept: an accepted socket is never swept
        assert client.connected
        assert client.call("echo", "still here", timeout=10) == "still here"
    finally:
        hang_up(client)
    assert len(app.extensions["realtime.unauthenticated"]) == 0
