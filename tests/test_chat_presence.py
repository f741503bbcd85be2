"""The reference app's presence: a real server (threading mode) and real Socket.IO clients.

The joining socket learns who is online from its ack; the conversation hears
of joins and leaves as coalesced ``presence`` updates.
"""

from __future__ import annotations

import time

import pytest

from chat.conversations import PRESENCE_COALESCE_SECONDS
from tests.support.procs import Browser, connect, hang_up

USERS = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture
def live(make_app, serve):
    app = make_app()
    users = app.extensions["realtime.users"]
    for name in USERS:
        users.set_password(name, f"{name}-pw")
    return serve(app)


def _socket(url: str, name: str):
    browser = Browser(url)
    assert browser.login(name, f"{name}-pw").status_code == 302
    return connect(url, browser.cookie_header)


def _watch(client) -> list[list[str]]:
    updates: list[list[str]] = []
    client.on("presence", lambda payload: updates.append(payload["online"]))
    return updates


def _settle(updates: list, until: list[str], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while (not updates or updates[-1] != until) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(3 * PRESENCE_COALESCE_SECONDS)  # anything still on its way arrives


def test_the_joiner_learns_who_is_online_from_its_ack(live):
    alice, bob = _socket(live.url, "alice"), _socket(live.url, "bob")
    try:
        assert alice.call("join", {"conversation": "lobby"}, timeout=5)["online"] == ["alice"]
        assert bob.call("join", {"conversation": "lobby"}, timeout=5)["online"] == ["alice", "bob"]
    finally:
        hang_up(alice)
        hang_up(bob)


def test_joins_together_reach_the_room_as_one_update(live):
    observer = _socket(live.url, "alice")
    updates = _watch(observer)
    others = [_socket(live.url, name) for name in USERS[1:]]
    try:
        observer.call("join", {"conversation": "class"}, timeout=5)
        _settle(updates, ["alice"])
        updates.clear()
        for client in others:  # four users join within one coalescing window
            client.emit("join", {"conversation": "class"})
        _settle(updates, sorted(USERS))
        # One update per user would be four; coalesced, the room hears once
        # (twice if the joins straddle a window).
        assert 1 <= len(updates) <= 2, updates
        assert updates[-1] == sorted(USERS)
    finally:
        for client in [observer, *others]:
            hang_up(client)


def test_leaves_and_disconnects_are_announced(live):
    observer, bob = _socket(live.url, "alice"), _socket(live.url, "bob")
    updates = _watch(observer)
    try:
        observer.call("join", {"conversation": "desk"}, timeout=5)
        bob.call("join", {"conversation": "desk"}, timeout=5)
        _settle(updates, ["alice", "bob"])
        bob.call("leave", {"conversation": "desk"}, timeout=5)
        _settle(updates, ["alice"])
        assert updates[-1] == ["alice"]
        bob.call("join", {"conversation": "desk"}, timeout=5)
        _settle(updates, ["alice", "bob"])
        hang_up(bob)
        _settle(updates, ["alice"])
        assert updates[-1] == ["alice"]
    finally:
        hang_up(observer)
        hang_up(bob)
