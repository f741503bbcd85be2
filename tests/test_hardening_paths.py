"""A client that varies the Socket.IO path must not grow the worker's memory.

Engine.IO serves every path under ``/socket.io/``, and each connect builds a
Flask request context for its path. Anything remembered per path would let one
client with no cookie fill the worker: here 4,000 refused connects, each on a
long path of its own, against the Procfile's gunicorn + eventlet process.
"""

from __future__ import annotations

import os
import secrets
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import eio
from tests.support.hardening import running, server_errors
from tests.test_load import settled_rss

#: gunicorn refuses request lines over 4094 bytes; the attack used paths just under that.
PATH_LENGTH = 3_800
#: Connects per round (``LEAK_CONNECTS`` to measure with more; README "Security" has the 4,000 figures).
CONNECTS = int(os.environ.get("LEAK_CONNECTS", "1500"))
#: A closed Engine.IO session stays in memory until its ping task next wakes (Socket.IO's ping interval,
#: 25 s): RSS is read once those are gone, or it would count how many the pace of the round left.
PING_INTERVAL = 25
#: Before the fix each refused connect on a new path kept about 4.4 KiB with paths this long (a round of
#: 1,500: +6.4 MiB); without it a round moves RSS by well under a MiB (+0.4).
MARGIN = int(os.environ.get("LEAK_MARGIN_MIB", "3")) * 2**20


@pytest.fixture(scope="module")
def app_proc(e2e_env):
    # No rate limit: every connect reaches the full refusal path, as from many addresses.
    with running(e2e_env(REALTIME_RATE_LIMIT="0", REALTIME_REVALIDATE_INTERVAL="0")) as proc:
        yield proc
    assert server_errors(proc) == []


def refused_on_a_new_path(url: str) -> str | None:
    """One websocket connect without a cookie on a path nobody used before; its refusal reason."""
    path = "/socket.io/" + secrets.token_hex(PATH_LENGTH // 2)
    outcome = eio.ws_connect(url, path=path)
    return outcome.reason


def refuse_many(url: str, count: int) -> list[str | None]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda _: refused_on_a_new_path(url), range(count)))


def test_refused_connects_on_distinct_paths_keep_no_memory(app_proc):
    worker = app_proc.pid_of_worker()
    # Warm-up, the same round as measured: first use of every code path, and the allocator's high-water
    # mark of a round's closed sessions waiting for their ping task, are no leak.
    assert set(refuse_many(app_proc.url, CONNECTS)) == {"no_cookie"}
    time.sleep(PING_INTERVAL + 2)
    before = settled_rss(worker)
    assert set(refuse_many(app_proc.url, CONNECTS)) == {"no_cookie"}
    time.sleep(PING_INTERVAL + 2)
    after = settled_rss(worker)
    print(f"worker RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB after {CONNECTS} refused connects")
    assert after - before < MARGIN, (before, after)
