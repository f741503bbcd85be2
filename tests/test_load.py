"""Sustained load on one gunicorn eventlet worker: 2,000 authenticated sockets held for a minute of churn.

The Procfile's web process against the ArangoDB test server, 127.0.0.1 only.
The load generator is node with the official socket.io-client
(``tests/support/load_clients.js``), so the clients are not the bottleneck.
While 2,000 sockets stay connected, logins (each with three tabs) and logouts
and reconnects churn for ``CHURN_SECONDS``, and a conversation of
``MEMBERS`` sockets receives a message every ``MESSAGE_EVERY_MS``. Checked:
no socket drops unless we ended it, every message reaches every member exactly
once, logouts end their tabs, and afterwards the worker's memory comes back to
within 5% of where it was before the churn.

"Before" is read after a short warm-up round of the same churn: the first round
of logins, logouts and reconnects grows the worker once (measured: 157 MB ready,
171 MB after a first 30 s round, then 171-172 MB after each of four more), as
first-use caches fill and the allocator reaches its working size. A leak grows
with every round; comparing against the warmed-up worker tells the two apart.
"""

from __future__ import annotations

import json
import resource
import select
import shutil
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import psutil
import pytest

from tests.support.hardening import hang_up_http, login, running, server_errors

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HOLDERS = 2000
HOLDER_SESSIONS = 20  # 100 tabs per browser session
MEMBERS = 200
WARMUP_SECONDS = 20
CHURN_SECONDS = 60
MESSAGE_EVERY_MS = 500
RECONNECT_LANES = 8
LOGIN_LANES = 2
MEMORY_TOLERANCE = 0.05


def raise_open_file_limit(wanted: int = 16384) -> None:
    """Children (gunicorn, node) inherit this process's limit; 2,000 sockets need a few thousand descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class LoadClients:
    """The node load generator as a subprocess speaking JSON lines."""

    def __init__(self, spec: dict[str, t.Any]) -> None:
        node = shutil.which("node")
        if node is None or not (ROOT / "node_modules" / "socket.io-client").is_dir():
            pytest.fail("the load test needs node and `npm install` (socket.io-client) at the repository root")
        self.stderr = tempfile.NamedTemporaryFile(prefix="load-clients-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [node, str(ROOT / "tests" / "support" / "load_clients.js"), json.dumps(spec)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def progress(self) -> str:
        return Path(self.stderr.name).read_text(errors="replace")

    def read(self, event: str, timeout: float) -> dict[str, t.Any]:
        """The next stdout line, which must be ``event``; fail after ``timeout`` seconds."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise AssertionError(f"no {event!r} from the load generator within {timeout}s:\n{self.progress()}")
        message = json.loads(line)
        assert message["event"] == event, message
        return message

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.stderr.close()


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def settled_rss(pid: int, seconds: float = 3.0) -> int:
    """RSS once it stops moving: the lowest of a few samples over ``seconds``."""
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(rss(pid))
        time.sleep(0.5)
    return min(samples)


def assert_clean_round(churned: dict[str, t.Any], seconds: int) -> None:
    """One round of churn as a user would want it: nothing dropped, lost, doubled or refused."""
    assert churned["holdersStillConnected"] == HOLDERS, churned
    assert churned["unexpectedDisconnects"] == 0, churned["unexpectedDisconnectReasons"]
    assert churned["messagesSent"] >= seconds * 1000 // MESSAGE_EVERY_MS // 2, churned
    assert churned["messageSendFailures"] == 0, churned["errors"]
    assert (churned["delivered"], churned["duplicates"], churned["unknownMessages"]) == (
        churned["expectedDeliveries"],
        0,
        0,
    )
    assert churned["reconnectCycles"] > 0 and churned["reconnectFailures"] == 0, churned["errors"]
    assert churned["logins"] > 0 and churned["logins"] == churned["logouts"], churned
    assert churned["loggedOutSocketsEnded"] == churned["loggedOutSockets"] == 3 * churned["logouts"], churned
    assert churned["loginFailures"] == 0, churned["errors"]


def test_one_worker_holds_2000_sockets_through_a_minute_of_churn(e2e_env):
    raise_open_file_limit()
    started = time.monotonic()
    # Thousands of simulated clients share 127.0.0.1 and connect in bursts of 50.
    env = e2e_env(REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS="0")
    with running(env) as proc:
        setup_seconds = time.monotonic() - started
        browsers = [login(proc.url, ("alice", "bob")[i % 2]) for i in range(HOLDER_SESSIONS)]
        spec = {
            "url": proc.url,
            "holderCookies": [b.cookie_header["Cookie"] for b in browsers],
            "holders": HOLDERS,
            "members": MEMBERS,
            "conversation": "load",
            "churnSeconds": CHURN_SECONDS,
            "messageEveryMs": MESSAGE_EVERY_MS,
            "reconnectLanes": RECONNECT_LANES,
            "loginLanes": LOGIN_LANES,
            "users": [["alice", "alice-pw"], ["bob", "bob-pw"]],
            "connectConcurrency": 50,
        }
        hang_up_http(*browsers)
        worker = proc.pid_of_worker()
        clients = LoadClients(spec)
        try:
            ready = clients.read("ready", timeout=180)
            assert ready["holders"] == HOLDERS, ready
            clients.send(f"go {WARMUP_SECONDS}")
            assert_clean_round(clients.read("churned", timeout=WARMUP_SECONDS + 90), WARMUP_SECONDS)
            before = settled_rss(worker)
            clients.send(f"go {CHURN_SECONDS}")
            churned = clients.read("churned", timeout=CHURN_SECONDS + 90)
            # Memory: the churn's sockets and sessions are gone, the 2,000 holders are still there.
            deadline = time.monotonic() + 30
            after = settled_rss(worker)
            while after > before * (1 + MEMORY_TOLERANCE) and time.monotonic() < deadline:
                after = settled_rss(worker)
            figures = {
                **{k: v for k, v in churned.items() if k != "event"},
                "rss_before_mb": round(before / 2**20, 1),
                "rss_after_mb": round(after / 2**20, 1),
                "rss_change_percent": round(100 * (after - before) / before, 1),
                "setup_seconds": round(setup_seconds, 1),
                "ready_seconds": ready["seconds"],
            }
            print("\nload figures: " + json.dumps(figures, sort_keys=True))
            assert_clean_round(churned, CHURN_SECONDS)
            assert after <= before * (1 + MEMORY_TOLERANCE), figures
        finally:
            clients.stop()
    assert server_errors(proc) == []
