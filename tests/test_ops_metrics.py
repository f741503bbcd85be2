"""Prometheus metrics: what an operator's scrape sees after real sockets come and go.

Reference app in threading mode, served by werkzeug, real Socket.IO clients;
the text format is read back with prometheus_client's own parser.
"""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from realtime.health import get_readiness
from tests.support.procs import Browser, Refused, connect, hang_up


def scrape(url: str, path: str = "/metrics", **headers: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of one scrape."""
    response = requests.get(url + path, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "Set-Cookie" not in response.headers  # a scrape creates no session
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def disconnects(samples) -> dict[str, float]:
    """``{reason: count}`` of ``realtime_socket_disconnects_total``."""
    return {
        dict(labels)["reason"]: count
        for (name, labels), count in samples.items()
        if name == "realtime_socket_disconnects_total"
    }


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def start(make_app, serve):
    apps = []

    def factory(**config):
        app = make_app(**config)
        with app.app_context():
            app.extensions["realtime"].extension.init_db()
        app.extensions["realtime.users"].set_password("alice", "alice-pw", update=True)
        apps.append(app)
        return serve(app)

    yield factory
    for app in apps:
        get_readiness(app).stop()


def test_connects_are_counted_by_outcome_and_reason_and_timed(start):
    live = start()
    with pytest.raises(Refused):
        connect(live.url)
    anonymous = Browser(live.url)
    anonymous.request("GET", "/login")
    anonymous.request("GET", "/login")  # back with its session id: the anonymous record is written
    with pytest.raises(Refused):
        connect(live.url, anonymous.cookie_header)
    alice = Browser(live.url)
    alice.login("alice", "alice-pw")
    client = connect(live.url, alice.cookie_header)
    try:
        samples = scrape(live.url)
        assert value(samples, "realtime_socket_connects_total", outcome="refused", reason="no_cookie") == 1
        assert value(samples, "realtime_socket_connects_total", outcome="refused", reason="anonymous") == 1
        assert value(samples, "realtime_socket_connects_total", outcome="accepted", reason="ok") == 1
        assert value(samples, "realtime_auth_seconds_count") == 3
        assert 0 < value(samples, "realtime_auth_seconds_sum") < 10
        assert value(samples, "realtime_auth_seconds_bucket", le="+Inf") == 3
        assert value(samples, "realtime_sockets_connected") == 1
    finally:
        hang_up(client)
    assert wait_for(lambda: disconnects(scrape(live.url)))
    # The client says goodbye and hangs up at once: the server may see either first.
    assert set(disconnects(scrape(live.url))) <= {"client disconnect", "transport close"}
    assert value(scrape(live.url), "realtime_sockets_connected") == 0


def test_logout_and_revocations_are_counted(start):
    live = start()
    alice = Browser(live.url)
    alice.login("alice", "alice-pw")
    client = connect(live.url, alice.cookie_header)
    try:
        alice.logout()
        assert wait_for(
            lambda: value(scrape(live.url), "realtime_socket_disconnects_total", reason="server disconnect")
        )
        samples = scrape(live.url)
        assert value(samples, "realtime_sessions_revoked_total", reason="logout") == 1
        assert value(samples, "realtime_sockets_connected") == 0
    finally:
        hang_up(client)


def test_store_errors_are_counted(start, arango_config, arango_server):
    live = start(**arango_config)
    alice = Browser(live.url)
    alice.request("GET", "/login")
    with arango_server.faults(fail_reads=True, fail_writes=True, error_num=30):
        with pytest.raises(Refused) as info:
            connect(live.url, alice.cookie_header)
        assert info.value.reason == "unavailable"
        alice.request("GET", "/login")  # back with its session id: cannot read or write its anonymous record
    samples = scrape(live.url)
    assert value(samples, "realtime_store_errors_total", operation="connect") == 1
    assert value(samples, "realtime_store_errors_total", operation="http_session") == 1
    assert value(samples, "realtime_socket_connects_total", outcome="refused", reason="unavailable") == 1


def test_each_app_has_its_own_registry(start):
    first, second = start(), start()
    with pytest.raises(Refused):
        connect(first.url)
    assert value(scrape(first.url), "realtime_socket_connects_total", outcome="refused", reason="no_cookie") == 1
    assert value(scrape(second.url), "realtime_socket_connects_total", outcome="refused", reason="no_cookie") == 0
    # The process collectors an operator expects are there too.
    assert value(scrape(second.url), "process_resident_memory_bytes") > 0


def test_the_path_is_configurable_and_can_be_turned_off(start):
    moved = start(REALTIME_METRICS_PATH="/internal/prometheus")
    assert requests.get(moved.url + "/metrics", timeout=5).status_code == 404
    assert "realtime_sockets_connected" in requests.get(moved.url + "/internal/prometheus", timeout=5).text
    off = start(REALTIME_METRICS_PATH="")
    assert requests.get(off.url + "/metrics", timeout=5).status_code == 404


def test_a_token_protects_the_endpoint(start):
    live = start(REALTIME_METRICS_TOKEN="scrape-me")
    assert requests.get(live.url + "/metrics", timeout=5).status_code == 401
    wrong = requests.get(live.url + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
    assert "realtime_sockets_connected" in str(scrape(live.url, Authorization="Bearer scrape-me"))
