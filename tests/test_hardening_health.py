"""/healthz and /readyz: answered from memory, whatever the dependencies do.

The registry logic with a fake clock and fake probes; the endpoints on a real
HTTP server (threading mode) with a store that hangs or is unreachable. The
same endpoints under gunicorn during real outages are in
``tests/test_hardening_outage.py``.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from realtime.errors import ConfigError, StoreError
from realtime.health import Readiness, add_check, get_readiness, report
from tests.support.procs import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def raising(exc: Exception):
    def probe() -> None:
        raise exc

    return probe


def failing(message: str = "ArangoDB could not answer a ping: ConnectionError (cannot connect)"):
    return raising(StoreError(message))


def test_unknown_until_probed_then_ready():
    readiness = Readiness(clock=Clock())
    check = readiness.add("session_store", lambda: None)
    ready, body = readiness.snapshot()
    assert (ready, body["status"], body["checks"]["session_store"]["status"]) == (False, "starting", "unknown")
    check.run_probe(readiness.clock)
    ready, body = readiness.snapshot()
    assert (ready, body["status"], body["checks"]["session_store"]["status"]) == (True, "ready", "ok")


def test_a_failing_probe_is_degraded_with_a_log_safe_detail():
    readiness = Readiness(clock=Clock())
    readiness.add("session_store", failing()).run_probe(readiness.clock)
    readiness.add("other", raising(OSError("http://user:pw@db/_api/document/x/SECRET")))
    readiness.checks["other"].run_probe(readiness.clock)
    ready, body = readiness.snapshot()
    assert (ready, body["status"]) == (False, "degraded")
    assert (
        body["checks"]["session_store"]["detail"]
        == "ArangoDB could not answer a ping: ConnectionError (cannot connect)"
    )
    assert body["checks"]["other"]["detail"] == "OSError raised by the probe"  # foreign messages may hold URLs


def test_a_probe_running_past_the_timeout_counts_as_failing():
    clock = Clock()
    readiness = Readiness(timeout=1.0, clock=clock)
    check = readiness.add("session_store", lambda: None)
    check.run_probe(clock)
    check.probing_since = clock.now  # the next probe hangs
    clock.now += 0.9
    assert readiness.snapshot()[0] is True
    clock.now += 0.2
    ready, body = readiness.snapshot()
    assert not ready and body["checks"]["session_store"]["detail"] == "no answer to the probe within 1 s"


def test_real_calls_report_and_the_latest_observation_wins():
    clock = Clock()
    readiness = Readiness(clock=clock)
    readiness.add("session_store", lambda: None).run_probe(clock)
    clock.now += 1
    readiness.report("session_store", False, "a connect request to the store failed", source="connect")
    ready, body = readiness.snapshot()
    assert not ready and body["checks"]["session_store"]["source"] == "connect"
    clock.now += 1
    readiness.checks["session_store"].run_probe(clock)
    assert readiness.snapshot()[0] is True
    readiness.report("nonexistent", False)  # unknown names are ignored


def test_non_critical_checks_do_not_make_the_app_unready():
    readiness = Readiness(clock=Clock())
    readiness.add("session_store", lambda: None).run_probe(readiness.clock)
    readiness.add("cache", failing("cache down"), critical=False).run_probe(readiness.clock)
    ready, body = readiness.snapshot()
    assert ready and body["checks"]["cache"]["status"] == "failing"


def test_names_are_unique():
    readiness = Readiness()
    readiness.add("a", lambda: None)
    with pytest.raises(ValueError, match="exists already"):
        readiness.add("a", lambda: None)


def test_background_probes_start_once_and_stop():
    readiness = Readiness(interval=0.01, clock=time.monotonic)
    calls = []
    readiness.add("a", lambda: calls.append(1))
    threads: list[threading.Thread] = []

    def spawn(target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        threads.append(thread)

    assert readiness.start(spawn, time.sleep) is True
    assert readiness.start(spawn, time.sleep) is False
    readiness.wait_for_first_results(1.0, time.sleep)
    assert calls and len(threads) == 1
    readiness.stop()
    threads[0].join(2)
    assert not threads[0].is_alive()


# -- the endpoints ------------------------------------------------------------------


def timed_get(url: str) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    response = requests.get(url, timeout=5)
    return response, time.perf_counter() - started


@pytest.fixture
def hanging_db():
    """A TCP server that accepts connections and never answers: the slowest possible database."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("db", ["hanging", "unreachable"])
def test_endpoints_answer_fast_while_the_store_hangs_or_is_gone(make_app, serve, hanging_db, db):
    url = hanging_db if db == "hanging" else f"http://127.0.0.1:{free_port()}"
    app = make_app(ARANGO_URL=url, ARANGO_TIMEOUT=5.0, REALTIME_HEALTH_INTERVAL=0.2, REALTIME_HEALTH_TIMEOUT=0.3)
    live = serve(app)
    try:
        for _ in range(5):
            response, seconds = timed_get(live.url + "/healthz")
            assert (response.status_code, response.json(), seconds < 0.1) == (200, {"status": "ok"}, True)
        response, seconds = timed_get(live.url + "/readyz")  # starts the probe, waits at most 50 ms for it
        assert seconds < 0.1 and response.status_code == 503
        deadline = time.monotonic() + 3
        while response.json()["checks"]["session_store"]["status"] != "failing":
            assert time.monotonic() < deadline, response.json()
            time.sleep(0.05)
            response, seconds = timed_get(live.url + "/readyz")
            assert seconds < 0.1
        assert response.json()["status"] == "degraded"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response.headers  # probes never create sessions
    finally:
        get_readiness(app).stop()


def test_readyz_is_ready_with_a_working_store_and_lists_added_checks(make_app, serve):
    app = make_app()
    add_check(app, "message_queue", lambda: None, critical=False)
    live = serve(app)
    try:
        response = requests.get(live.url + "/readyz", timeout=5)
        assert response.status_code == 200
        assert {"session_store", "message_queue"} <= set(response.json()["checks"])
        with app.app_context():
            report(app, "session_store", False, "told so")
        assert requests.get(live.url + "/readyz", timeout=5).status_code == 503
    finally:
        get_readiness(app).stop()


def test_endpoints_can_be_turned_off(make_app):
    client = make_app(REALTIME_HEALTH_ENDPOINTS=False).test_client()
    assert client.get("/readyz").status_code == 404


@pytest.mark.parametrize("config", [{"REALTIME_HEALTH_INTERVAL": 0}, {"REALTIME_HEALTH_TIMEOUT": -1}])
def test_impossible_probe_timing_is_a_startup_error(make_app, config):
    with pytest.raises(ConfigError, match="more than 0 seconds"):
        make_app(**config)
