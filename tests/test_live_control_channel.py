"""The control channel alone ends sockets on other instances: revalidation is off here.

tests/test_live_cluster.py runs with a revalidation pass every second, which
ends a revoked session's sockets with the same reason as the control channel,
so it passes even when no control message arrives. Here
``REALTIME_REVALIDATE_INTERVAL=0``: a socket ends only because its instance
applied the revocation (its own, or one that reached it as a message) or,
for expiry, because its own instance's expiry check says so. Two gunicorn eventlet instances, Redis, the ArangoDB
test server.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.support.live import emitter_revokes, login, queue_env, session_info
from tests.support.procs import Browser, run_flask

#: Revocation reaches the other instance within this (seconds); nothing else would end the socket at all.
WITHIN = 1.0
#: How long a socket that nothing should end is watched.
QUIET = 2.0


@pytest.fixture(scope="module")
def env(request):
    e2e_env = request.getfixturevalue("e2e_env")
    return queue_env(e2e_env, REALTIME_REVALIDATE_INTERVAL="0", REALTIME_SLIDING_SESSIONS="true")


def test_revoke_user_ends_sockets_whose_records_are_already_gone(instances, clients, sessions_collection):
    """With revalidation off a socket outlives its deleted record; revoking its user still ends it, by uid."""
    a, b = instances
    browser = login(a)
    sockets = [clients(a, browser), clients(b, browser)]
    sessions_collection.delete(session_info(browser)["sid"])  # behind the instances' back
    assert not sockets[1].wait_ended(QUIET), "ended without any message: revalidation is not off"
    Browser(b.url).request("POST", "/_test/revoke/user/alice")
    for socket in sockets:
        assert socket.wait_ended(WITHIN) and socket.ended_by_server("revoked")


def test_revoke_session_on_one_instance_ends_its_sockets_there_and_on_the_other(instances, clients):
    a, b = instances
    target, other = login(a), login(a)
    targets = [clients(a, target), clients(b, target)]
    other_on_b = clients(b, other)
    Browser(a.url).request("POST", f"/_test/revoke/session/{session_info(target)['sid']}")
    for socket in targets:
        assert socket.wait_ended(WITHIN) and socket.ended_by_server("revoked")
    assert other_on_b.alive()


def test_revoke_user_on_one_instance_ends_every_socket_of_the_user_on_both(instances, clients):
    a, b = instances
    first, second, bob = login(a), login(b), login(a, "bob")
    alice_sockets = [clients(a, first), clients(b, first), clients(a, second), clients(b, second)]
    bob_on_b = clients(b, bob)
    Browser(a.url).request("POST", "/_test/revoke/user/alice")
    for socket in alice_sockets:
        assert socket.wait_ended(WITHIN) and socket.ended_by_server("revoked")
    assert bob_on_b.alive()


def test_logout_on_one_instance_ends_the_sockets_there_and_on_the_other(instances, clients):
    a, b = instances
    browser = login(a)
    sockets = [clients(a, browser), clients(b, browser)]
    assert browser.logout().status_code == 302
    for socket in sockets:
        assert socket.wait_ended(WITHIN) and socket.ended_by_server("logout")


def test_revocations_from_external_processes_end_sockets_on_both_instances(instances, clients, env):
    """A worker script's Emitter and the operator's CLI publish what an instance would."""
    a, b = instances
    first, second, bob = login(a), login(b), login(a, "bob")
    first_sockets = [clients(a, first), clients(b, first)]
    second_sockets = [clients(a, second), clients(b, second)]
    bob_sockets = [clients(a, bob), clients(b, bob)]

    emitter_revokes(env, f"revoke_session({session_info(first)['sid']!r})")
    for socket in first_sockets:
        assert socket.wait_ended(WITHIN) and socket.ended_by_server("revoked")
    assert all(socket.alive() for socket in second_sockets)

    emitter_revokes(env, "revoke_user('alice')")
    for socket in second_sockets:
        assert socket.wait_ended(WITHIN) and socket.ended_by_server("revoked")
    assert all(socket.alive() for socket in bob_sockets)

    result = run_flask(["--app", "wsgi", "realtime", "sessions", "revoke", "--user", "bob"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Revoked \d+ session\(s\) of user bob\.", result.stdout)
    for socket in bob_sockets:
        assert socket.wait_ended(WITHIN) and socket.ended_by_server("revoked")


def _expire_soon(sessions_collection, browser: Browser, seconds: float) -> tuple[str, float]:
    """Move the browser's session expiry close, in the database only (an HTTP request would slide it)."""
    sid = session_info(browser)["sid"]
    expires_at = time.time() + seconds
    sessions_collection.update({"_key": sid, "expires_at": expires_at})
    return sid, expires_at


def test_sliding_expiry_ends_the_socket_when_the_store_cannot_confirm(
    instances, clients, sessions_collection, arango_server
):
    """With sliding sessions the instance re-reads an expiring record; a store that fails then must not keep it."""
    _, b = instances
    browser = login(b)
    _, expires_at = _expire_soon(sessions_collection, browser, 2.0)
    socket = clients(b, browser)
    with arango_server.faults(fail_reads=True):
        assert socket.wait_ended(expires_at - time.time() + WITHIN)
    assert socket.ended_by_server("expired")


def test_sliding_expiry_ends_the_socket_of_a_record_that_is_gone_or_changed_hands(
    instances, clients, sessions_collection
):
    """The confirming read finds no record, or one of another user: the socket ends at its expiry."""
    a, _ = instances
    gone, handed = login(a), login(a)
    gone_sid, expires_at = _expire_soon(sessions_collection, gone, 2.0)
    handed_sid, _ = _expire_soon(sessions_collection, handed, 2.0)
    sockets = [clients(a, gone), clients(a, handed)]
    # Behind the instances' back: no control message tells them.
    sessions_collection.delete(gone_sid)
    sessions_collection.update({"_key": handed_sid, "uid": "bob", "expires_at": time.time() + 3600})
    for socket in sockets:
        assert socket.wait_ended(expires_at - time.time() + WITHIN)
        assert socket.ended_by_server("expired")


def test_sliding_expiry_follows_an_extension_the_instance_missed(instances, clients, sessions_collection):
    """The other side of the confirmation: a missed extension keeps the socket, until the new expiry ends it."""
    a, _ = instances
    browser = login(a)
    sid, expires_at = _expire_soon(sessions_collection, browser, 1.5)
    socket = clients(a, browser)
    extended_to = expires_at + 2.0
    sessions_collection.update({"_key": sid, "expires_at": extended_to})
    time.sleep(max(0.0, extended_to - time.time() - 0.4))
    assert socket.alive(), "ended at the expiry the session had before it was extended"
    assert socket.wait_ended(extended_to - time.time() + WITHIN)
    assert socket.ended_by_server("expired")
