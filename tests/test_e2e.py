"""End to end: the Procfile's web process (gunicorn + eventlet worker) against the ArangoDB test server.

Real processes, real sockets: python-socketio clients over websocket-only
and polling-then-upgrade, login over HTTP as a browser does it.
"""

from __future__ import annotations

import threading

import pytest

from tests.support.procs import AppProcess, Browser, Refused, connect, hang_up, procfile_command

TRANSPORTS = {"websocket": ["websocket"], "polling-upgrade": ["polling", "websocket"]}


@pytest.fixture(scope="module")
def app_proc(request):
    env = request.getfixturevalue("e2e_env")()
    proc = AppProcess(env).start()
    yield proc
    proc.stop()


def test_procfile_runs_one_eventlet_worker_with_raised_connection_limit():
    web = procfile_command("web")
    assert web[:3] == ["gunicorn", "--worker-class", "eventlet"]
    assert web[web.index("-w") + 1] == "1"
    assert int(web[web.index("--worker-connections") + 1]) > 1000
    assert procfile_command("release") == ["flask", "--app", "wsgi", "realtime", "init-db"]


@pytest.mark.parametrize("transports", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_refusals_reach_the_client_with_message_and_reason(app_proc, transports):
    with pytest.raises(Refused) as info:
        connect(app_proc.url, transports=transports)
    assert (info.value.message, info.value.reason) == ("Cookie not found", "no_cookie")

    anonymous = Browser(app_proc.url)
    anonymous.request("GET", "/login")
    anonymous.request("GET", "/login")  # back with its session id: the anonymous record is written
    with pytest.raises(Refused) as info:
        connect(app_proc.url, anonymous.cookie_header, transports)
    assert (info.value.message, info.value.reason) == ("Session is not authenticated", "anonymous")

    logged_out = Browser(app_proc.url)
    logged_out.login("alice", "alice-pw")
    stale = logged_out.cookie_header
    logged_out.logout()
    with pytest.raises(Refused) as info:
        connect(app_proc.url, stale, transports)
    assert (info.value.message, info.value.reason) == ("Session is not authenticated", "unknown_session")


@pytest.mark.parametrize("transports", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_two_users_converse(app_proc, transports):
    alice, bob = Browser(app_proc.url), Browser(app_proc.url)
    assert alice.login("alice", "alice-pw").status_code == 302
    assert bob.login("bob", "bob-pw").status_code == 302
    a = connect(app_proc.url, alice.cookie_header, transports)
    b = connect(app_proc.url, bob.cookie_header, transports)
    try:
        if transports == ["polling", "websocket"]:
            assert a.transport() in ("polling", "websocket")
        got_b: list[dict] = []
        arrived = threading.Event()
        b.on("message", lambda m: (got_b.append(m), arrived.set()))
        assert a.call("join", {"conversation": "general"}, timeout=5)["ok"]
        joined = b.call("join", {"conversation": "general"}, timeout=5)
        assert joined["ok"] and joined["online"] == ["alice", "bob"]

        assert a.call("message", {"conversation": "general", "text": "hi bob"}, timeout=5)["ok"]
        assert arrived.wait(5)
        assert got_b[0]["uid"] == "alice" and got_b[0]["text"] == "hi bob"

        bad = a.call("message", {"conversation": "random", "text": "not joined"}, timeout=5)
        assert bad == {"ok": False, "error": "not_joined", "message": "Join the conversation before sending to it."}
        assert a.call("message", {"conversation": "general", "text": "x" * 2001}, timeout=5)["error"] == "text_too_long"
        assert a.call("message", "not an object", timeout=5)["error"] == "bad_payload"
        assert a.call("echo", {"n": 1}, timeout=5) == {"n": 1}
    finally:
        hang_up(a)
        hang_up(b)


def test_one_arango_request_per_connect_and_none_per_event(e2e_env, arango_server):
    # Periodic revalidation (one batched read per interval) would add requests
    # at moments of its own choosing; this instance counts only the guard's.
    with AppProcess(e2e_env(REALTIME_REVALIDATE_INTERVAL="0")) as proc:
        browser = Browser(proc.url)
        browser.login("alice", "alice-pw")
        arango_server.reset_stats()
        client = connect(proc.url, browser.cookie_header)
        try:
            connect_requests = arango_server.stats()["total"]
            client.call("join", {"conversation": "general"}, timeout=5)
            for i in range(20):
                client.call("message", {"conversation": "general", "text": f"m{i}"}, timeout=5)
            event_requests = arango_server.stats()["total"] - connect_requests
        finally:
            hang_up(client)
    assert connect_requests == 1
    assert event_requests == 0


def test_python_wsgi_runs_the_development_server_on_the_embedded_store(tmp_path):
    """`python wsgi.py` with no ArangoDB configured: the README's first command."""
    import sys

    from tests.support.procs import base_env, run_flask

    env = base_env(REALTIME_INSTANCE_PATH=str(tmp_path / "instance"))
    env.pop("SECRET_KEY")  # development generates one
    created = run_flask(["--app", "wsgi", "realtime", "create-user", "alice", "--password", "pw"], env)
    assert created.returncode == 0, created.stderr
    proc = AppProcess(env, command=[sys.executable, "wsgi.py"]).start()
    try:
        assert "embedded SQLite" in proc.output()
        browser = Browser(proc.url)
        assert browser.login("alice", "pw").status_code == 302
        client = connect(proc.url, browser.cookie_header)
        assert client.call("echo", "ok", timeout=5) == "ok"
        hang_up(client)
    finally:
        proc.stop()
