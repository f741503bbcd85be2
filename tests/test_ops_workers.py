"""The way off eventlet: the same app under gunicorn's gevent and threaded workers, chosen by configuration.

Each worker runs the Procfile's web line with only ``--worker-class`` changed
(and ``--threads`` for gthread); ``wsgi.py`` sees which worker loaded it and
patches to match. Under each: login, connect, refusal, a message both ways,
and a graceful SIGTERM.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.support.procs import WORKERS, AppProcess, Browser, Refused, connect, hang_up, web_command


@pytest.mark.parametrize("worker", WORKERS)
def test_login_connect_refuse_converse_and_drain_under_each_worker(e2e_env, worker):
    env = e2e_env(REALTIME_WORKER=worker, REALTIME_SHUTDOWN_JITTER="1")
    proc = AppProcess(env, command=web_command(worker)).start()
    a = b = None
    try:
        assert f"Using worker: {WORKERS[worker][1]}" in proc.output()
        alice, bob = Browser(proc.url), Browser(proc.url)
        assert alice.login("alice", "alice-pw").status_code == 302
        assert bob.login("bob", "bob-pw").status_code == 302

        anonymous = Browser(proc.url)
        anonymous.request("GET", "/login")
        anonymous.request("GET", "/login")  # back with its session id: the anonymous record is written
        for transports in (["websocket"], ["polling"]):
            with pytest.raises(Refused) as info:
                connect(proc.url, anonymous.cookie_header, transports)
            assert info.value.reason == "anonymous"

        a = connect(proc.url, alice.cookie_header, ["websocket"])
        b = connect(proc.url, bob.cookie_header, ["polling", "websocket"])
        got: list[dict] = []
        arrived = threading.Event()
        b.on("message", lambda m: (got.append(m), arrived.set()))
        assert a.call("join", {"conversation": "general"}, timeout=5)["ok"]
        assert b.call("join", {"conversation": "general"}, timeout=5)["ok"]
        assert a.call("message", {"conversation": "general", "text": f"hi from {worker}"}, timeout=5)["ok"]
        assert arrived.wait(5)
        assert got[0]["uid"] == "alice" and got[0]["text"] == f"hi from {worker}"

        told = threading.Event()
        a.on("server_shutdown", lambda data: told.set())
        sent = time.monotonic()
        assert proc.stop(signal.SIGTERM, timeout=30) == 0, proc.output()
        assert time.monotonic() - sent < 30
        assert told.is_set(), proc.output()
    finally:
        for client in (a, b):
            if client is not None:
                hang_up(client)
        proc.stop(signal.SIGKILL)
        proc.log.close()  # stop() leaves it open when the process exited by itself


def test_a_worker_that_does_not_match_realtime_worker_fails_at_boot_with_the_fix(e2e_env):
    proc = AppProcess(e2e_env(REALTIME_WORKER="gevent"))  # the Procfile says eventlet
    with pytest.raises(RuntimeError):
        proc.start(timeout=20)
    proc.stop(signal.SIGKILL)
    proc.log.close()  # stop() leaves it open when the process exited by itself
    assert "REALTIME_WORKER=gevent but gunicorn runs its eventlet worker" in proc.output()
