"""Graceful deploys: SIGTERM stops new sockets, moves the connected ones over a window, and exits in time.

The spreading is tested as a pure function; the drain itself in-process
(threading mode) and, as the PaaS does it, with SIGTERM to a real gunicorn
eventlet process started from the Procfile.
"""

from __future__ import annotations

import random
import signal
import threading
import time

import pytest
import requests

from realtime import shutdown
from realtime.health import get_readiness
from tests.support.procs import AppProcess, Browser, Refused, connect, hang_up

WINDOW = 3.0


class Watched:
    """A connected client that records when it was told to reconnect and when it was disconnected."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: list[tuple[str, float, object]] = []
        self.gone = threading.Event()
        self.client = connect(url, headers)
        self.client.on("server_shutdown", lambda data: self.events.append(("server_shutdown", time.monotonic(), data)))

        def on_disconnect(reason: object = None) -> None:
            self.events.append(("disconnect", time.monotonic(), reason))
            self.gone.set()

        self.client.on("disconnect", on_disconnect)

    def names(self) -> list[str]:
        return [name for name, _at, _data in self.events]

    def told_at(self) -> float:
        return next(at for name, at, _data in self.events if name == "server_shutdown")


def watch_many(url: str, browser: Browser, count: int) -> list[Watched]:
    return [Watched(url, browser.cookie_header) for _ in range(count)]


# -- the schedule ---------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 7, 100])
def test_spread_puts_exactly_one_socket_in_each_slice_of_the_window(count):
    offsets = shutdown.spread(count, 10.0, random.Random(count))
    assert len(offsets) == count
    assert all(0 <= offset < 10.0 for offset in offsets)
    slices = sorted(int(offset // (10.0 / count)) for offset in offsets)
    assert slices == list(range(count))


def test_spread_order_is_random_and_a_zero_window_means_at_once():
    offsets = shutdown.spread(50, 5.0, random.Random(1))
    assert offsets != sorted(offsets)
    assert shutdown.spread(3, 0, random.Random(1)) == [0.0, 0.0, 0.0]
    assert shutdown.spread(0, 5.0) == []


def test_window_is_shortened_to_end_inside_gunicorns_graceful_timeout():
    assert shutdown.fit_window(10, 25) == 10
    assert shutdown.fit_window(30, 25) == 25 - shutdown.FLUSH_SECONDS - shutdown.MARGIN_SECONDS
    assert shutdown.fit_window(5, 1) == 0


# -- in-process (threading mode) ---------------------------------------------


@pytest.fixture
def live(make_app, serve):
    app = make_app(REALTIME_SHUTDOWN_JITTER=WINDOW)
    app.extensions["realtime.users"].set_password("alice", "alice-pw")
    yield serve(app)
    get_readiness(app).stop()


def test_drain_tells_every_socket_to_reconnect_then_disconnects_it_spread_over_the_window(live):
    browser = Browser(live.url)
    browser.login("alice", "alice-pw")
    clients = watch_many(live.url, browser, 6)
    try:
        begun = time.monotonic()
        assert shutdown.begin(live.app) is True
        assert shutdown.begin(live.app) is False  # a second SIGTERM changes nothing
        for watched in clients:
            assert watched.gone.wait(WINDOW + 5)
            assert watched.names() == ["server_shutdown", "disconnect"]
            assert watched.events[0][2] == {"reason": "shutting_down"}
            assert watched.events[1][2] == "server disconnect"
        told = sorted(watched.told_at() - begun for watched in clients)
        # One socket per sixth of the window: the first and the last are most of a window apart.
        assert told[-1] - told[0] >= WINDOW * 4 / 6
        assert told[-1] <= WINDOW + 1
        assert shutdown.get_drain(live.app).done.wait(5)
        assert shutdown.get_drain(live.app).moved == 6
    finally:
        for watched in clients:
            hang_up(watched.client)


def test_a_draining_instance_refuses_new_sockets_and_is_not_ready(live):
    browser = Browser(live.url)
    browser.login("alice", "alice-pw")
    assert requests.get(live.url + "/readyz", timeout=5).status_code == 200
    shutdown.begin(live.app)
    with pytest.raises(Refused) as info:
        connect(live.url, browser.cookie_header)
    assert (info.value.message, info.value.reason) == ("Server is shutting down", "shutting_down")

    deadline = time.monotonic() + 5
    while (ready := requests.get(live.url + "/readyz", timeout=5)).status_code != 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.status_code == 503
    check = ready.json()["checks"]["accepting_sockets"]
    assert check["status"] == "failing" and "shutting down" in check["detail"]
    assert requests.get(live.url + "/healthz", timeout=5).status_code == 200  # alive, just leaving


# -- a real gunicorn eventlet worker, SIGTERM as the PaaS sends it -------------


def test_sigterm_under_gunicorn_moves_sockets_over_the_window_and_exits_in_time(e2e_env):
    proc = AppProcess(e2e_env(REALTIME_SHUTDOWN_JITTER=str(WINDOW))).start()
    clients: list[Watched] = []
    try:
        alice = Browser(proc.url)
        assert alice.login("alice", "alice-pw").status_code == 302
        clients = watch_many(proc.url, alice, 8)
        assert all(watched.client.call("echo", {"n": 1}, timeout=5) == {"n": 1} for watched in clients)

        sent = time.monotonic()
        # Heroku sends SIGTERM to every process of the dyno: gunicorn's master and its worker.
        proc.stop(signal.SIGTERM, timeout=30)
        exited = time.monotonic() - sent
        assert proc.proc is not None and proc.proc.returncode == 0, proc.output()
        assert exited < 30, f"exited {exited:.1f} s after SIGTERM"

        for watched in clients:
            assert watched.gone.wait(5), proc.output()
            assert watched.names() == ["server_shutdown", "disconnect"], watched.events
        told = sorted(watched.told_at() - sent for watched in clients)
        assert told[-1] - told[0] >= WINDOW * 6 / 8, told
        assert told[-1] <= WINDOW + 2, told

        output = proc.output()
        assert "Shutting down: moving 8 socket(s) to other instances over 3.0 s" in output
        assert "Shutdown drain finished: 8 socket(s) told to reconnect" in output
    finally:
        for watched in clients:
            hang_up(watched.client)
        proc.stop(signal.SIGKILL)
        proc.log.close()  # stop() leaves it open when the process exited by itself


def test_no_new_socket_is_accepted_after_sigterm(e2e_env):
    proc = AppProcess(e2e_env(REALTIME_SHUTDOWN_JITTER=str(WINDOW))).start()
    first = None
    try:
        alice = Browser(proc.url)
        alice.login("alice", "alice-pw")
        # One socket keeps the worker draining for the whole window.
        first = connect(proc.url, alice.cookie_header)
        proc.proc.send_signal(signal.SIGTERM)  # the master: it closes the listener, then signals the worker
        time.sleep(0.5)
        outcomes = []
        for _ in range(3):
            try:
                late = connect(proc.url, alice.cookie_header, timeout=5)
            except Refused as refused:
                outcomes.append(refused.reason)
            except Exception as exc:  # noqa: BLE001 - the listener is closed: the connection itself fails
                outcomes.append(type(exc).__name__)
            else:
                hang_up(late)
                outcomes.append("accepted")
            time.sleep(0.2)
        assert "accepted" not in outcomes, outcomes
        assert proc.proc.wait(30) == 0
    finally:
        if first is not None:
            hang_up(first)
        proc.stop(signal.SIGKILL)
        proc.log.close()  # stop() leaves it open when the process exited by itself
