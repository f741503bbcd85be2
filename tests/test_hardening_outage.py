"""Database outages: refuse new sockets quickly, keep serving everything else, recover by itself.

The Procfile's gunicorn + eventlet process against the ArangoDB test server,
which is slowed past ``ARANGO_TIMEOUT``, made to answer 503, made to reset
every connection, or stopped. During each outage:

- every connect is refused with "Session store unavailable" within the
  timeout (plus a margin for the handshake), valid cookie or not; none is let in;
- the worker stays responsive: ``/healthz`` and ``/readyz`` answer each
  request within 100 ms, and ``/readyz`` reports the store as failing;
- a socket accepted before the outage keeps working and is never dropped;

and after it, without a restart, new sockets get in again and every session
stored before the outage is exactly as it was.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import typing as t

import pytest
import requests

from realtime.sessions import new_session_id
from tests.support.hardening import cookie_signer, login, running, server_errors, session_documents
from tests.support.procs import Refused, connect, hang_up

#: ARANGO_TIMEOUT of the app under test, seconds.
TIMEOUT = 1.0
#: What a refused connect may take beyond the timeout: the handshake and the client's own work.
MARGIN = 1.0
#: The health endpoints' budget per request, from the spec.
HEALTH_BUDGET = 0.100


@dataclasses.dataclass(frozen=True)
class Outage:
    name: str
    begin: t.Callable[[t.Any], None]
    end: t.Callable[[t.Any], None]


OUTAGES = [
    Outage("slow", lambda db: db.faults(latency_ms=TIMEOUT * 3000), lambda db: db.clear_faults()),
    Outage("503-host-down", lambda db: db.faults(fail_reads=True, fail_writes=True), lambda db: db.clear_faults()),
    Outage(
        "503-shutting-down",
        lambda db: db.faults(fail_reads=True, fail_writes=True, error_num=30),
        lambda db: db.clear_faults(),
    ),
    Outage("connection-reset", lambda db: db.faults(reset=True), lambda db: db.clear_faults()),
    Outage("stopped", lambda db: db.stop(), lambda db: db.start()),
]


@pytest.fixture(scope="module")
def env(request) -> dict[str, str]:
    return request.getfixturevalue("e2e_env")(
        ARANGO_TIMEOUT=str(TIMEOUT), REALTIME_HEALTH_INTERVAL="0.5", REALTIME_HEALTH_TIMEOUT="0.5"
    )


@pytest.fixture(scope="module")
def app_proc(env):
    with running(env) as proc:
        yield proc
    assert server_errors(proc) == []


def wait_for(predicate: t.Callable[[], t.Any], timeout: float, interval: float = 0.05) -> t.Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"still false after {timeout}s: {predicate}")
        time.sleep(interval)


def readiness(http: requests.Session, url: str) -> tuple[int, dict[str, t.Any]]:
    response = http.get(url + "/readyz", timeout=2)
    return response.status_code, response.json()


def store_status(http: requests.Session, url: str) -> str:
    return readiness(http, url)[1]["checks"]["session_store"]["status"]


def attempt(url: str, headers: dict[str, str]) -> tuple[str, float]:
    """Try one connect; return what happened ("accepted", the refusal reason, "no answer") and how long it took."""
    started = time.perf_counter()
    try:
        client = connect(url, headers, timeout=TIMEOUT + 10)
    except Refused as refused:
        return f"{refused.message} ({refused.reason})", time.perf_counter() - started
    except TimeoutError:
        return "no answer", time.perf_counter() - started
    hang_up(client)
    return "accepted", time.perf_counter() - started


UNAVAILABLE = "Session store unavailable (unavailable)"


@pytest.mark.parametrize("outage", OUTAGES, ids=[o.name for o in OUTAGES])
def test_outage_refuses_new_sockets_keeps_the_rest_and_recovers(app_proc, env, arango_server, outage):
    url = app_proc.url
    alice, bob = login(url, "alice"), login(url, "bob")
    sign = cookie_signer(env["SECRET_KEY"])
    holder = connect(url, alice.cookie_header)
    dropped: list[t.Any] = []
    holder.on("disconnect", lambda *reason: dropped.append(reason))
    health = requests.Session()
    try:
        assert holder.call("join", {"conversation": "general"}, timeout=5)["ok"]
        wait_for(lambda: readiness(health, url)[0] == 200, timeout=5)
        stored_before = session_documents(env)
        worker = app_proc.pid_of_worker()

        outage.begin(arango_server)
        try:
            # Sockets knock while we watch the worker: valid sessions, an unknown one, no cookie.
            knocking = [
                ("bob", bob.cookie_header),
                ("alice", alice.cookie_header),
                ("unknown sid", {"Cookie": f"session={sign({'sid': new_session_id()})}"}),
                ("bob again", bob.cookie_header),
            ]
            results: dict[str, tuple[str, float]] = {}
            knocker = threading.Thread(
                target=lambda: results.update({who: attempt(url, cookie) for who, cookie in knocking})
            )
            knocker.start()

            wait_for(lambda: store_status(health, url) == "failing", timeout=TIMEOUT + 5)
            timings = []
            for _ in range(10):
                for path in ("/healthz", "/readyz"):
                    started = time.perf_counter()
                    response = health.get(url + path, timeout=2)
                    timings.append((path, response.status_code, time.perf_counter() - started))
            assert {(path, status) for path, status, _ in timings} == {("/healthz", 200), ("/readyz", 503)}
            slow = [(path, round(seconds * 1000, 1)) for path, _, seconds in timings if seconds >= HEALTH_BUDGET]
            assert slow == [], f"health answers over {HEALTH_BUDGET * 1000:.0f} ms during the outage"
            status, body = readiness(health, url)
            assert (status, body["status"], body["checks"]["session_store"]["status"]) == (503, "degraded", "failing")

            assert holder.call("echo", {"during": outage.name}, timeout=2) == {"during": outage.name}
            assert holder.call("message", {"conversation": "general", "text": "still here"}, timeout=2)["ok"]

            knocker.join(len(knocking) * (TIMEOUT + 12))
            assert not knocker.is_alive()
            print(f"\noutage {outage.name}: " + ", ".join(f"{w}: {r} in {s:.2f}s" for w, (r, s) in results.items()))
            assert {who: result for who, (result, _) in results.items()} == {who: UNAVAILABLE for who, _ in knocking}
            too_slow = {who: round(s, 2) for who, (_, s) in results.items() if s > TIMEOUT + MARGIN}
            assert too_slow == {}, f"refusals slower than ARANGO_TIMEOUT={TIMEOUT}s + {MARGIN}s"
            # Without a cookie there is nothing to look up: refused as usual, database or not.
            assert attempt(url, {})[0] == "Cookie not found (no_cookie)"
        finally:
            outage.end(arango_server)

        # Back without a restart: the very next connects get in.
        wait_for(lambda: attempt(url, bob.cookie_header)[0] == "accepted", timeout=10, interval=0.2)
        assert app_proc.pid_of_worker() == worker
        wait_for(lambda: readiness(health, url)[0] == 200, timeout=5)
        assert holder.call("echo", {"after": outage.name}, timeout=2) == {"after": outage.name}
        assert dropped == []

        stored_after = session_documents(env)
        assert {key: stored_after.get(key) for key in stored_before} == stored_before
    finally:
        hang_up(holder)
        health.close()


#: The slow-drip database: each answer written one byte per this many milliseconds.
DRIP_MS = 500
#: Bytes in the shortest answer the connect waits for (a 404's status line and headers alone are longer).
SHORTEST_ANSWER = 100


def test_a_database_answering_a_byte_at_a_time_cannot_hold_a_connect(app_proc, env, arango_server):
    """``ARANGO_TIMEOUT`` is one deadline for the whole store request, not a limit on each read.

    Every byte arrives well inside the timeout, so a per-read limit would let
    the connect wait for the whole answer (``SHORTEST_ANSWER * DRIP_MS``,
    over 50 s); the client here gives up long before that.
    """
    url = app_proc.url
    alice = login(url, "alice")
    sign = cookie_signer(env["SECRET_KEY"])
    drip_seconds = SHORTEST_ANSWER * DRIP_MS / 1000
    assert TIMEOUT + 10 < drip_seconds / 3  # attempt() gives up long before a drip could finish
    with arango_server.faults(drip_ms=DRIP_MS):
        results = {
            "alice": attempt(url, alice.cookie_header),
            "unknown sid": attempt(url, {"Cookie": f"session={sign({'sid': new_session_id()})}"}),
        }
        assert arango_server.stats()["faults"]["dripped"] >= 2
    print("\nslow drip: " + ", ".join(f"{who}: {result} in {s:.2f}s" for who, (result, s) in results.items()))
    assert {who: result for who, (result, _) in results.items()} == {"alice": UNAVAILABLE, "unknown sid": UNAVAILABLE}
    assert "Socket refused: session store unavailable: ArangoDB could not read a session" in app_proc.output()
    wait_for(lambda: attempt(url, alice.cookie_header)[0] == "accepted", timeout=10, interval=0.2)
