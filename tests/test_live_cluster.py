"""Live sockets follow the session across instances: two gunicorn eventlet instances, Redis, the ArangoDB test server.

Each instance is the Procfile's web process (``wsgi:app`` plus the test-only
routes of tests/support/live.py, which call the public API in-process).
python-socketio clients connect to both. The Socket.IO channel is unique to
this run: Redis pub/sub ignores the db number, so only the channel keeps
other test runs on the same Redis out.
"""

from __future__ import annotations

import statistics
import time

import pytest

from tests.support.live import external, live_command, login, queue_env, session_info
from tests.support.procs import AppProcess, Browser, hang_up

#: The spec's bound: logout, revocation and expiry reach every instance within a second.
WITHIN = 1.0
#: Seconds between revalidation passes in these instances.
REVALIDATE = 1.0
LATENCY_TRIALS = 25


@pytest.fixture(scope="module")
def env(request):
    e2e_env = request.getfixturevalue("e2e_env")
    return queue_env(e2e_env, REALTIME_REVALIDATE_INTERVAL=str(REVALIDATE), REALTIME_SLIDING_SESSIONS="true")


def session_id(browser: Browser) -> str:
    return session_info(browser)["sid"]


def on(instance: AppProcess, browser: Browser) -> Browser:
    """The same browser talking to another instance (the cookie works on all of them)."""
    moved = Browser(instance.url)
    moved.cookie = browser.cookie
    return moved


def test_logout_on_one_instance_ends_that_session_on_both_while_another_session_stays(instances, clients):
    a, b = instances
    first, second = login(a), login(b)
    first_on_a, first_on_b = clients(a, first), clients(b, first, transports=["polling", "websocket"])
    second_on_a, second_on_b = clients(a, second), clients(b, second)

    started = time.monotonic()
    assert first.logout().status_code == 302
    assert first_on_a.wait_ended(WITHIN) and first_on_b.wait_ended(WITHIN)
    assert first_on_b.time_of("disconnect") - started < WITHIN
    assert first_on_a.ended_by_server("logout") and first_on_b.ended_by_server("logout")
    assert second_on_a.alive() and second_on_b.alive()


def test_revoke_user_ends_every_session_of_the_user_on_every_instance(instances, clients):
    a, b = instances
    first, second, bob = login(a), login(b), login(a, "bob")
    alice_sockets = [clients(a, first), clients(b, first), clients(a, second), clients(b, second)]
    bob_sockets = [clients(a, bob), clients(b, bob)]

    expected = {session_id(first), session_id(second)}
    started = time.monotonic()
    revoked = Browser(b.url).request("POST", "/_test/revoke/user/alice").json()["sids"]
    assert expected <= set(revoked)
    for socket in alice_sockets:
        assert socket.wait_ended(WITHIN), "a socket of alice survived revoke_user"
        assert socket.ended_by_server("revoked")
        assert socket.time_of("disconnect") - started < WITHIN + 0.5
    assert all(socket.alive() for socket in bob_sockets)


def test_revoke_session_from_one_instance_ends_it_on_the_other(instances, clients):
    a, b = instances
    first, second = login(a), login(a)
    target_on_b, other_on_b = clients(b, first), clients(b, second)
    Browser(a.url).request("POST", f"/_test/revoke/session/{session_id(first)}")
    assert target_on_b.wait_ended(WITHIN) and target_on_b.ended_by_server("revoked")
    assert other_on_b.alive()


def test_expiry_ends_sockets_on_both_instances_at_the_right_time(instances, clients, sessions_collection):
    a, b = instances
    browser = login(a)
    expires_at = time.time() + 2.0
    # Set directly in the database; no HTTP request follows (it would slide the session).
    sessions_collection.update({"_key": session_id(browser), "expires_at": expires_at})
    on_a, on_b = clients(a, browser), clients(b, browser)

    time.sleep(max(0.0, expires_at - time.time() - 0.25))
    assert on_a.alive() and on_b.alive(), "ended before expiry"
    for socket in (on_a, on_b):
        assert socket.wait_ended(expires_at - time.time() + WITHIN + 0.5)
        ended_at = time.time() - (time.monotonic() - socket.time_of("disconnect"))
        assert expires_at - 0.05 <= ended_at < expires_at + WITHIN
        assert socket.ended_by_server("expired")


def test_sliding_session_activity_on_one_instance_moves_expiry_on_both(instances, clients, sessions_collection):
    a, b = instances
    browser = login(a)
    sid = session_id(browser)
    near = time.time() + 2.5
    sessions_collection.update({"_key": sid, "expires_at": near})
    on_a, on_b = clients(a, browser), clients(b, browser)

    assert browser.request("GET", "/chat").status_code == 200  # HTTP activity on A
    assert sessions_collection.get(sid)["expires_at"] > near + 3600
    time.sleep(max(0.0, near - time.time() + 1.0))
    assert on_a.alive() and on_b.alive(), "a socket ended at the expiry the session had before it slid"


def test_revalidation_reads_in_one_batch_per_instance_and_catches_a_deleted_record(
    instances, clients, arango_server, sessions_collection
):
    a, b = instances
    browsers = [login(a if i % 2 else b, "alice" if i % 3 else "bob") for i in range(5)]
    sockets = [clients(instance, browser) for browser in browsers for instance in (a, b)]
    assert len(sockets) == 10

    window = 3.5
    arango_server.reset_stats()
    time.sleep(window)
    reads = arango_server.stats()["by_kind"].get("document_read", 0)
    passes_at_most = 2 * (int(window / REVALIDATE) + 1)
    # One batched read per instance per pass; one read per socket would be 10 per pass.
    assert 2 <= reads <= passes_at_most, f"{reads} document reads in {window} s"

    victim = browsers[0]
    sessions_collection.delete(session_id(victim))
    deleted_at = time.monotonic()
    victims, others = sockets[:2], sockets[2:]
    for socket in victims:
        assert socket.wait_ended(REVALIDATE + WITHIN + 1.0)
        assert socket.ended_by_server("revoked")
        assert socket.time_of("disconnect") - deleted_at < REVALIDATE + WITHIN + 1.0
    assert all(socket.alive() for socket in others)


def test_push_from_an_external_process_reaches_both_instances(instances, clients, env):
    a, b = instances
    first, bob = login(a), login(b, "bob")
    alice_sockets = [clients(a, first), clients(b, first)]
    bob_socket = clients(b, bob)
    for socket in (*alice_sockets, bob_socket):
        socket.listen("news")
    sid = session_id(first)

    result = external(
        env,
        f"""
        import sys
        from realtime.emitter import Emitter

        with Emitter.from_config() as emitter:
            emitter.emit_to_user("alice", "news", {{"from": "worker"}})
            emitter.emit_to_session({sid!r}, "news", {{"from": "worker", "to": "session"}})
        assert "eventlet" not in sys.modules  # a plain process: no green threads, no server
        """,
    )
    assert result.returncode == 0, result.stderr
    for socket in alice_sockets:
        assert len(socket.wait_for("news")) >= 1
        deadline = time.monotonic() + 5
        while len(socket.events("news")) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [payload for _, payload in socket.events("news")] == [
            {"from": "worker"},
            {"from": "worker", "to": "session"},
        ]
    time.sleep(0.3)
    assert bob_socket.events("news") == []


@pytest.mark.parametrize("via", ["view", "task"])
def test_push_from_a_view_or_task_on_one_instance_reaches_sockets_on_the_other(instances, clients, via):
    a, b = instances
    browser = login(a)
    on_b = clients(b, browser)
    on_b.listen("news")
    Browser(a.url).request("POST", f"/_test/push/user/alice?via={via}", json={"event": "news", "data": {"via": via}})
    assert on_b.wait_for("news") == [{"via": via}]


def test_killing_one_instance_loses_no_session_and_leaves_the_other_undisturbed(
    instances, clients, env, sessions_collection
):
    a, _ = instances
    c = AppProcess(env, command=live_command()).start()
    try:
        browser, bob = login(c), login(a, "bob")
        on_a, on_c, bob_on_a = clients(a, browser), clients(c, browser), clients(a, bob)
        for socket in (on_a, bob_on_a):
            socket.listen("news")
        c.stop(sig=9)  # SIGKILL: no goodbye to anyone
        assert on_c.wait_ended(10)  # the client notices the dead server

        time.sleep(2 * REVALIDATE)
        assert on_a.alive() and bob_on_a.alive()
        assert on_a.events("session_ended") == [] and not on_a.disconnected.is_set()
        assert sessions_collection.get(session_id(on(a, browser))) is not None
        # The session survives: the browser reconnects to the remaining instance.
        reconnected = clients(a, browser)
        assert reconnected.alive()
        # Push and logout still work across the survivors.
        Browser(a.url).request("POST", "/_test/push/user/bob", json={"event": "news", "data": 1})
        assert bob_on_a.wait_for("news") == [1]
        on(a, browser).logout()
        assert on_a.wait_ended(WITHIN) and reconnected.wait_ended(WITHIN)
        assert bob_on_a.alive()
    finally:
        c.stop()


def test_logout_to_disconnect_latency_on_the_other_instance(instances, clients, capsys):
    """Measures, over many trials, the time from sending POST /logout to A until B's client sees the disconnect."""
    a, b = instances
    latencies = []
    for _ in range(LATENCY_TRIALS):
        browser = login(a)
        socket = clients(b, browser)
        token = browser.csrf("/login")
        started = time.monotonic()
        browser.request("POST", "/logout", data={"csrf_token": token})
        assert socket.wait_ended(WITHIN + 1.0)
        assert socket.ended_by_server("logout")
        latencies.append(socket.time_of("disconnect") - started)
        hang_up(socket.client)
    median, worst = statistics.median(latencies), max(latencies)
    with capsys.disabled():
        print(
            f"\nlogout on A -> disconnect on B over {len(latencies)} trials: median {median * 1000:.1f} ms,"
            f" worst {worst * 1000:.1f} ms, best {min(latencies) * 1000:.1f} ms"
        )
    assert worst < WITHIN
