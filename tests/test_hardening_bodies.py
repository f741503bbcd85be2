"""Slow request bodies: a client that announces a body and never sends it cannot hold a connection.

Against the Procfile's gunicorn + eventlet process with ``REALTIME_BODY_TIMEOUT=2``,
with requests written by hand on a raw socket: the head says
``Content-Length: 100``, then nothing (or a byte now and then) follows.
Before the deadline each of these held its connection, and a
``--worker-connections`` slot, for as long as the client liked. Now:

- a long-polling POST naming a made-up Engine.IO sid is refused (403, by
  realtime.binding, as for any sid this client did not open) at once,
  before its body is read (Engine.IO itself answers that without reading;
  realtime's body check in front of it used to read first);
- a long-polling POST of a real session, and ``POST /login``, are answered
  408 once the body is late, and the server closes the connection;
- a body dripped a byte at a time is cut off at the same deadline: it
  bounds the whole body, not each read.

The threading server (werkzeug, the tests' in-process server) is checked
too: there the socket's timeout does the cutting.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import typing as t
from urllib.parse import urlsplit

import pytest
import requests

from realtime.errors import ConfigError
from tests.support.hardening import running, server_errors

#: REALTIME_BODY_TIMEOUT of the app under test, seconds.
BODY_TIMEOUT = 2.0
#: How long the client waits for any answer: far past the deadline, far short of "forever".
PATIENCE = BODY_TIMEOUT * 5
ANNOUNCED = 100


@pytest.fixture(scope="module")
def app_proc(request):
    env = request.getfixturevalue("e2e_env")(REALTIME_BODY_TIMEOUT=str(BODY_TIMEOUT))
    with running(env) as proc:
        yield proc
    assert server_errors(proc) == []


class Answer(t.NamedTuple):
    status: int | None  # None: no answer within PATIENCE
    closed: bool  # the server closed the connection after answering
    seconds: float


def slow_request(url: str, method: str, target: str, *, drip: float | None = None, chunked: bool = False) -> Answer:
    """Send a request head announcing ``ANNOUNCED`` body bytes, then none (or one per ``drip`` seconds).

    ``chunked``: the body is announced as one chunk of ``ANNOUNCED`` bytes (no Content-Length).
    """
    parts = urlsplit(url)
    started = time.monotonic()
    framing = f"Transfer-Encoding: chunked\r\n\r\n{ANNOUNCED:x}\r\n" if chunked else f"Content-Length: {ANNOUNCED}\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=PATIENCE) as sock:
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{framing}".encode()
        )
        stop = threading.Event()
        if drip is not None:
            threading.Thread(target=_drip, args=(sock, drip, stop), daemon=True).start()
        received = b""
        closed = False
        try:
            while chunk := sock.recv(4096):
                received += chunk
            closed = True
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
        finally:
            stop.set()
    status_line = received.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 else None
    return Answer(status, closed, time.monotonic() - started)


def _drip(sock: socket.socket, every: float, stop: threading.Event) -> None:
    for _ in range(ANNOUNCED - 1):  # never the whole body
        if stop.wait(every):
            return
        try:
            sock.send(b"a")
        except OSError:
            return


def polling_session(url: str) -> str:
    """A new Engine.IO long-polling session's sid (no CONNECT sent)."""
    answer = requests.get(url + "/socket.io/?EIO=4&transport=polling", timeout=5)
    assert answer.status_code == 200 and answer.text.startswith("0"), answer.text
    return t.cast(str, json.loads(answer.text[1:])["sid"])


def test_a_made_up_engineio_sid_is_refused_before_its_body_is_read(app_proc):
    answer = slow_request(app_proc.url, "POST", "/socket.io/?EIO=4&transport=polling&sid=made-up-sid-0000000000")
    assert answer.status == 403, answer


@pytest.mark.parametrize(
    ("target", "drip"),
    [
        ("polling POST of a real session", None),
        ("/login", None),
        ("/login", 0.5),  # every byte well inside the deadline: it bounds the whole body
    ],
    ids=["polling-post", "login", "login-drip"],
)
def test_a_late_body_is_answered_408_and_its_connection_closed(app_proc, target, drip):
    path = f"/socket.io/?EIO=4&transport=polling&sid={polling_session(app_proc.url)}" if "polling" in target else target
    answer = slow_request(app_proc.url, "POST", path, drip=drip)
    assert (answer.status, answer.closed) == (408, True), answer
    assert "did not arrive within REALTIME_BODY_TIMEOUT=2s" in app_proc.output()
    assert requests.get(app_proc.url + "/healthz", timeout=5).status_code == 200


def test_a_chunked_body_that_never_ends_is_answered_408_and_its_connection_closed(app_proc):
    answer = slow_request(app_proc.url, "POST", "/login", chunked=True)
    assert (answer.status, answer.closed) == (408, True), answer


def test_bodies_that_arrive_are_read_as_before(app_proc):
    """Bodies that come in pieces within the deadline are not cut (the deadline is not a per-read limit)."""
    browser = requests.Session()
    page = browser.get(app_proc.url + "/login", timeout=5)
    assert page.status_code == 200
    answer = browser.post(app_proc.url + "/login", data={"username": "alice", "password": "wrong"}, timeout=5)
    assert answer.status_code in (400, 401, 403, 200), answer.status_code
    assert answer.status_code != 408


def test_the_threading_server_cuts_late_bodies_too(make_app, serve):
    live = serve(make_app(REALTIME_BODY_TIMEOUT=1))
    answer = slow_request(live.url, "POST", "/login", drip=0.3)
    assert (answer.status, answer.closed) == (408, True), answer


@pytest.mark.parametrize("value", ["soon", 0, -1, True])
def test_a_body_timeout_that_cannot_work_is_a_startup_error(make_app, value):
    with pytest.raises(ConfigError, match="REALTIME_BODY_TIMEOUT"):
        make_app(REALTIME_BODY_TIMEOUT=value)


def test_gevent_reads_are_cut_at_the_deadline():
    """gevent's Timeout interrupts a read wherever it waits (run in a process of its own: a gevent hub)."""
    code = """
import time
import gevent
from realtime.body_deadline import BodyTimeout, DeadlineInput, bound_for

class Trickle:
    def read(self, size):  # a byte every 0.2 s, never the whole body
        out = b""
        while len(out) < size:
            gevent.sleep(0.2)
            out += b"a"
        return out

body = DeadlineInput(Trickle(), time.monotonic() + 0.5, bound_for("gevent"), {})
started = time.monotonic()
try:
    body.read(100)
except BodyTimeout:
    print("cut", body.timed_out, round(time.monotonic() - started, 1) < 10)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.split() == ["cut", "True", "True"], result.stdout + result.stderr
