"""The connect guard's fail-closed branches, against the Procfile's web process (gunicorn + eventlet worker).

Each test sets the app up the way its own code could (tests/support/guard_wsgi.py)
and asserts what a client sees: an intruder without a cookie never gets a
connected socket nor the ``/admin`` namespace's data, a hook's "no" refuses a
logged-in user, and a setup the guard cannot cover is reported in the log.
Each test fails when its branch in ``realtime.guard`` is disabled (see
docs/mutation-2026-12-03.md).
"""

from __future__ import annotations

import re
import threading

import pytest
import requests
import socketio

from tests.support.live import DEADLINE, live_command, login
from tests.support.procs import AppProcess, Refused, connect, hang_up, run_flask


#: What the ``/admin`` namespace of tests/support/guard_wsgi.py answers (that module is only imported by gunicorn).
SECRET = {"payroll": "confidential"}


def guard_command() -> list[str]:
    return [*live_command()[:-1], "tests.support.guard_wsgi:app"]


@pytest.fixture(scope="module")
def env(e2e_env):
    env = e2e_env()
    result = run_flask(["--app", "wsgi", "realtime", "create-user", "carol", "--password", "carol-pw"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def serving(env: dict[str, str], variant: str) -> AppProcess:
    return AppProcess({**env, "GUARD_VARIANT": variant}, command=guard_command())


def intrude(url: str, namespace: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    """A client that tries ``namespace`` and, once in, asks for its secrets; what it got."""
    client = socketio.Client(reconnection=False)
    outcome: dict[str, object] = {"connected": False}
    settled = threading.Event()

    @client.on("connect", namespace=namespace)
    def _on_connect() -> None:
        outcome["connected"] = True
        settled.set()

    @client.on("connect_error", namespace=namespace)
    def _on_error(data: object) -> None:
        outcome["refused"] = data
        settled.set()

    try:
        client.connect(url, headers=headers or {}, transports=["websocket"], namespaces=[namespace], wait=False)
    except socketio.exceptions.ConnectionError as exc:
        outcome["failed"] = str(exc)
        settled.set()
    settled.wait(DEADLINE)
    if outcome["connected"]:
        try:
            outcome["secrets"] = client.call("secrets", namespace=namespace, timeout=5)
        except socketio.exceptions.TimeoutError:
            outcome["secrets"] = None
    hang_up(client)
    return outcome


def assert_kept_out(outcome: dict[str, object]) -> None:
    assert outcome["connected"] is False, outcome
    assert "refused" in outcome or "failed" in outcome, outcome
    assert SECRET not in outcome.values()


def guard_reported(proc: AppProcess, pattern: str) -> bool:
    """The server's log says the guard is not in place, naming the cause."""
    return any(re.search(pattern, line) for line in proc.output().splitlines() if "CRITICAL" in line)


def test_a_class_based_namespace_keeps_everyone_out_and_says_why(env):
    with serving(env, "class_namespace") as proc:
        assert_kept_out(intrude(proc.url, "/admin"))
        assert_kept_out(intrude(proc.url, "/"))
        assert guard_reported(proc, r"Class-based Socket\.IO namespaces")


def test_a_namespace_added_with_its_own_connect_handler_keeps_everyone_out_and_says_why(env):
    with serving(env, "own_connect") as proc:
        assert_kept_out(intrude(proc.url, "/admin"))
        assert_kept_out(intrude(proc.url, "/admin", login(proc).cookie_header))
        assert guard_reported(proc, r"namespace '/admin' is not realtime's")


def test_namespaces_star_keeps_everyone_out_of_unlisted_namespaces_and_says_why(env):
    with serving(env, "all_namespaces") as proc:
        assert_kept_out(intrude(proc.url, "/feed"))
        assert guard_reported(proc, r"namespaces='\*'")


def test_manage_session_false_stops_the_server_from_starting(env):
    proc = serving(env, "unmanaged_session")
    try:
        with pytest.raises(RuntimeError, match=r"app exited"):
            proc.start()
        assert "manage_session=False" in proc.output()
        with pytest.raises(requests.ConnectionError):
            requests.get(proc.url + "/socket.io/?EIO=4&transport=polling", timeout=2)
    finally:
        proc.stop()


def test_connect_hooks_that_say_no_or_fail_refuse_the_socket(env):
    with serving(env, "hooks") as proc:
        alice = connect(proc.url, login(proc, "alice").cookie_header)
        try:
            with pytest.raises(Refused) as turned_away:
                connect(proc.url, login(proc, "bob").cookie_header)
            assert turned_away.value.reason == "rejected"
            with pytest.raises(Refused) as failed:
                connect(proc.url, login(proc, "carol").cookie_header)
            assert failed.value.reason == "error"
            # Only alice is held: a refused socket leaves nothing behind for pushes or revocation.
            assert requests.get(proc.url + "/_test/live", timeout=5).json() == {"connections": 1}
            assert alice.call("echo", {"ping": 1}, timeout=5) == {"ping": 1}
        finally:
            hang_up(alice)
        assert "A connect hook failed; refusing the socket" in proc.output()
