"""The reference app against one logged-in client naming rooms, and against other sites framing its pages.

Against the Procfile's gunicorn eventlet process (with the test-only routes
of tests/support/live.py, whose ``_test_join`` events let a client name any
room, as many apps' handlers do).
"""

from __future__ import annotations

import pytest
import requests

from chat.conversations import MAX_JOINED
from tests.support.live import live_command, login
from tests.support.procs import AppProcess, Browser, connect, hang_up

#: The library's cap in these instances (REALTIME_MAX_ROOMS_PER_SOCKET).
MAX_ROOMS = 30


def named_rooms(client, prefix: str) -> list[str]:
    """The rooms the server has this socket in whose names start with ``prefix``."""
    return [room for room in client.call("_test_rooms", timeout=10) if room.startswith(prefix)]


@pytest.fixture(scope="module")
def app(request):
    env = request.getfixturevalue("e2e_env")(REALTIME_MAX_ROOMS_PER_SOCKET=str(MAX_ROOMS))
    with AppProcess(env, command=live_command()) as proc:
        yield proc


def test_one_client_cannot_join_unlimited_made_up_conversations(app):
    browser = login(app)
    client = connect(app.url, browser.cookie_header)
    try:
        acks = [client.call("join", {"conversation": f"made-up-{i}"}, timeout=5) for i in range(MAX_JOINED + 25)]
        assert all(ack["ok"] for ack in acks[:MAX_JOINED])
        refused = acks[MAX_JOINED:]
        assert {ack["error"] for ack in refused} == {"too_many_conversations"}
        assert str(MAX_JOINED) in refused[0]["message"] and not any(ack["ok"] for ack in refused)
        assert len(named_rooms(client, "conversation:")) == MAX_JOINED

        # Joining one it is in, or a new one after leaving, still works.
        assert client.call("join", {"conversation": "made-up-0"}, timeout=5)["ok"]
        assert client.call("leave", {"conversation": "made-up-0"}, timeout=5)["ok"]
        assert client.call("join", {"conversation": "general"}, timeout=5)["ok"]
        assert client.call("echo", {"still": "here"}, timeout=5) == {"still": "here"}
    finally:
        hang_up(client)


@pytest.mark.parametrize("event", ["_test_join", "_test_join_identity"])
def test_any_handler_that_joins_named_rooms_is_capped_by_the_library(app, event):
    browser = login(app)
    client = connect(app.url, browser.cookie_header)
    try:
        for i in range(MAX_ROOMS + 20):
            # Emitted without waiting for an ack: a @socketio.on handler that lets
            # TooManyRooms escape answers nothing (the error is in the server log).
            client.emit(event, f"room-{i}")
        joined = named_rooms(client, "room-")
        assert len(joined) == MAX_ROOMS and f"room-{MAX_ROOMS}" not in joined
        if event == "_test_join_identity":
            ack = client.call(event, "one-more", timeout=5)
            assert ack == {"ok": False, "error": "too_many_rooms", "message": ack["message"]}
            assert str(MAX_ROOMS) in ack["message"]
        assert client.call("echo", {"still": "here"}, timeout=5) == {"still": "here"}
    finally:
        hang_up(client)
    # Counts are per socket: a new socket of the same user starts from none.
    again = connect(app.url, browser.cookie_header)
    try:
        again.call("_test_join", "room-0", timeout=5)
        assert named_rooms(again, "room-") == ["room-0"]
    finally:
        hang_up(again)


@pytest.mark.parametrize("path", ["/login", "/chat", "/no-such-page"])
def test_pages_tell_browsers_never_to_frame_them(app, path):
    browser = login(app)
    response = browser.request("GET", path)
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_non_html_answers_are_left_alone(app):
    response = requests.get(app.url + "/healthz", timeout=5)
    assert "X-Frame-Options" not in response.headers and "Content-Security-Policy" not in response.headers
    assert Browser(app.url).request("GET", "/login").status_code == 200


def test_a_pages_own_framing_policy_is_kept_and_the_default_can_be_turned_off(make_app):
    app = make_app()

    @app.get("/embeddable")
    def embeddable():
        return "<p>framed by us</p>", {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'self'"}

    @app.get("/old-style")
    def old_style():
        return "<p>old</p>", {"X-Frame-Options": "SAMEORIGIN"}

    client = app.test_client()
    own = client.get("/embeddable")
    assert own.headers.getlist("Content-Security-Policy") == ["default-src 'self'; frame-ancestors 'self'"]
    assert "X-Frame-Options" not in own.headers
    old = client.get("/old-style")
    assert old.headers["X-Frame-Options"] == "SAMEORIGIN" and "Content-Security-Policy" not in old.headers

    off = make_app(REALTIME_DENY_FRAMING=False).test_client().get("/login")
    assert "X-Frame-Options" not in off.headers and "Content-Security-Policy" not in off.headers
