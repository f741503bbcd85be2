"""Refused-connect rate limiting: guessing costs time, legitimate reconnect storms cost nothing.

The bucket logic is tested as pure code with a fake clock; the behaviour a
client sees against the Procfile's gunicorn process. That process trusts one
proxy (``REALTIME_TRUSTED_PROXIES=1``), so each test plays its own client
address through ``X-Forwarded-For`` and starts with a full bucket.
"""

from __future__ import annotations

import json
import threading
import time
import typing as t
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from realtime.errors import ConfigError
from realtime.ratelimit import RefusalLimiter, client_key
from realtime.sessions import new_session_id
from tests.support import eio
from tests.support.hardening import cookie_signer, login, running, server_errors
from tests.support.procs import Refused, connect, hang_up

LIMIT = 5
WINDOW = 20.0  # one token back every 4 s


# -- the bucket, pure ----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refuse(limiter: RefusalLimiter, key: str) -> bool:
    """One attempt by ``key`` that ends refused; whether it emptied the bucket."""
    assert limiter.take(key)
    return limiter.release(key, spent=True)


def test_limit_refusals_then_none_and_valid_sessions_cost_nothing():
    clock = Clock()
    limiter = RefusalLimiter(3, 30.0, clock=clock)
    for _ in range(3):
        for _ in range(10):  # valid sessions give their token back
            assert limiter.take("a")
            limiter.release("a", spent=False)
        refuse(limiter, "a")
    assert not limiter.take("a")
    assert limiter.take("b")


def test_attempts_in_flight_hold_their_tokens():
    """Concurrent attempts cannot get more checks past the limit than it allows."""
    limiter = RefusalLimiter(3, 30.0, clock=Clock(), max_wait=0.05)
    assert [limiter.take("a") for _ in range(5)] == [True, True, True, False, False]
    limiter.release("a", spent=False)  # one of them was a valid session
    assert limiter.take("a")
    for _ in range(3):
        limiter.release("a", spent=True)
    assert not limiter.take("a")


def test_an_attempt_waits_for_a_held_token_that_comes_back():
    limiter = RefusalLimiter(1, 30.0, clock=Clock(), max_wait=10)
    assert limiter.take("a")
    giver = threading.Timer(0.1, lambda: limiter.release("a", spent=False))
    giver.start()
    assert limiter.take("a")  # waited for the valid session's token
    giver.join()
    threading.Timer(0.1, lambda: limiter.release("a", spent=True)).start()
    assert not limiter.take("a")  # the held token was spent: nothing to wait for any more


def test_tokens_come_back_at_limit_per_window():
    clock = Clock()
    limiter = RefusalLimiter(3, 30.0, clock=clock)  # one token per 10 s
    for _ in range(3):
        refuse(limiter, "a")
    clock.now += 9.9
    assert not limiter.take("a")
    clock.now += 0.2
    assert refuse(limiter, "a") is False  # emptied again, but reported once per episode
    assert not limiter.take("a")


def test_emptying_the_bucket_is_reported_once_per_episode():
    clock = Clock()
    limiter = RefusalLimiter(2, 10.0, clock=clock)
    assert [refuse(limiter, "a") for _ in range(2)] == [False, True]
    assert not limiter.take("a")
    clock.now += 10
    assert [refuse(limiter, "a") for _ in range(2)] == [False, True]


def test_refilled_buckets_are_forgotten_and_the_table_is_bounded():
    clock = Clock()
    limiter = RefusalLimiter(2, 10.0, max_clients=3, clock=clock)
    for key in "abcde":
        refuse(limiter, key)
    assert len(limiter) == 3  # the least recently refused were dropped
    clock.now += 10
    for key in "cde":
        assert limiter.take(key)
        limiter.release(key, spent=False)
    assert len(limiter) == 0


def test_zero_turns_it_off():
    limiter = RefusalLimiter(0, 60.0)
    for _ in range(100):
        refuse(limiter, "a")
    assert limiter.take("a") and len(limiter) == 0


@pytest.mark.parametrize(
    ("environ", "trusted", "key"),
    [
        ({"REMOTE_ADDR": "198.51.100.7"}, 0, "198.51.100.7"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}, 0, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7"}, 1, "198.51.100.7"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7, 10.0.0.2"}, 2, "198.51.100.7"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}, 2, "10.0.0.1"),
        ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, 0, "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "::ffff:198.51.100.7"}, 0, "198.51.100.7"),
        ({}, 0, "unknown"),
    ],
)
def test_client_key(environ, trusted, key):
    assert client_key(environ, trusted) == key


# -- against the real process --------------------------------------------------


@pytest.fixture(scope="module")
def env(request) -> dict[str, str]:
    return request.getfixturevalue("e2e_env")(
        REALTIME_RATE_LIMIT=str(LIMIT),
        REALTIME_RATE_LIMIT_WINDOW=str(WINDOW),
        REALTIME_TRUSTED_PROXIES="1",
        REALTIME_REVALIDATE_INTERVAL="0",  # a test counts database requests
        # Tests here hold hundreds of sessions of one address before CONNECT;
        # the cap and the timeout have their own tests (test_hardening_unauthenticated.py).
        REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS="0",
        REALTIME_CONNECT_TIMEOUT="60",
    )


@pytest.fixture(scope="module")
def app_proc(env):
    with running(env) as proc:
        yield proc
    assert server_errors(proc) == []


@pytest.fixture(scope="module")
def cookies(app_proc, env) -> dict[str, t.Callable[[], dict[str, str]]]:
    alice, bob = login(app_proc.url, "alice"), login(app_proc.url, "bob")
    sign = cookie_signer(env["SECRET_KEY"])
    return {
        "alice": lambda: dict(alice.cookie_header),
        "bob": lambda: dict(bob.cookie_header),
        # Signed with the real key (a leaked key, or a guesser's dream): one database read each.
        "guess": lambda: {"Cookie": f"session={sign({'sid': new_session_id()})}"},
    }


def knock(url: str, headers: dict[str, str], client: str) -> str:
    """Connect as ``client`` (its address arrives through the trusted proxy); return "accepted" or the reason."""
    try:
        hang_up(connect(url, {**headers, "X-Forwarded-For": client}, timeout=10))
    except Refused as refused:
        return t.cast(str, refused.reason)
    return "accepted"


def test_guessing_is_refused_early_without_a_database_request(app_proc, cookies, arango_server):
    client = "203.0.113.1"
    assert [knock(app_proc.url, cookies["guess"](), client) for _ in range(LIMIT)] == ["unknown_session"] * LIMIT
    arango_server.reset_stats()
    assert knock(app_proc.url, cookies["guess"](), client) == "rate_limited"
    # The refusal is decided before the cookie is read: a valid one waits too, and nothing is asked of the database.
    assert knock(app_proc.url, cookies["alice"](), client) == "rate_limited"
    assert arango_server.stats()["total"] == 0
    assert knock(app_proc.url, cookies["alice"](), "203.0.113.2") == "accepted"  # per address

    with pytest.raises(Refused) as info:
        connect(app_proc.url, {**cookies["guess"](), "X-Forwarded-For": client})
    assert (info.value.message, info.value.reason) == ("Too many attempts", "rate_limited")
    assert "Client 203.0.113.1 reached the refused-connect limit" in app_proc.output()

    # A token comes back every WINDOW / LIMIT seconds.
    deadline = time.monotonic() + WINDOW / LIMIT + 3
    while knock(app_proc.url, cookies["alice"](), client) != "accepted":
        assert time.monotonic() < deadline, "the bucket did not refill"
        time.sleep(0.5)


def test_reconnect_storm_of_valid_sessions_is_never_limited(app_proc, cookies):
    """After a deploy every tab behind one office address reconnects at once: none may be slowed."""
    client = "203.0.113.10"
    # The address is nearly out of tokens already.
    assert [knock(app_proc.url, cookies["guess"](), client) for _ in range(LIMIT - 1)] == ["unknown_session"] * (
        LIMIT - 1
    )
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(
            pool.map(lambda i: knock(app_proc.url, cookies["alice" if i % 2 else "bob"](), client), range(200))
        )
    assert outcomes.count("accepted") == 200, {o: outcomes.count(o) for o in set(outcomes)}
    print(f"\nstorm: 200 valid reconnects from one address in {time.monotonic() - started:.1f}s, all accepted")
    # ...and the storm took nothing from the allowance.
    assert knock(app_proc.url, cookies["guess"](), client) == "unknown_session"


def test_a_failing_store_does_not_switch_the_limiter_off(app_proc, cookies, arango_server):
    """An attacker who makes the database fail (or slow past ARANGO_TIMEOUT) still pays a token per attempt."""
    client = "203.0.113.20"
    with arango_server.faults(fail_reads=True):
        outcomes = [knock(app_proc.url, cookies["alice"](), client) for _ in range(LIMIT + 2)]
        assert outcomes == ["unavailable"] * LIMIT + ["rate_limited"] * 2
    # Back: a client that retried through the outage waits for one token's refill, no longer.
    deadline = time.monotonic() + WINDOW / LIMIT + 3
    while knock(app_proc.url, cookies["alice"](), client) != "accepted":
        assert time.monotonic() < deadline, "the bucket did not refill"
        time.sleep(0.5)


def test_addresses_written_by_the_client_do_not_escape_the_limit(app_proc, cookies):
    """Only the entry our trusted proxy appended counts; the client can prepend anything it likes."""
    proxy_saw = "203.0.113.30"
    spoofed = [f"198.51.100.{i}, {proxy_saw}" for i in range(LIMIT + 1)]
    outcomes = [knock(app_proc.url, cookies["guess"](), forwarded) for forwarded in spoofed]
    assert outcomes == ["unknown_session"] * LIMIT + ["rate_limited"]


def test_forwarded_for_is_ignored_without_trusted_proxies(make_app, serve, caplog):
    app = make_app(REALTIME_RATE_LIMIT=3)
    live = serve(app)
    sign = cookie_signer(app.secret_key)
    outcomes = [
        knock(live.url, {"Cookie": f"session={sign({'sid': new_session_id()})}"}, f"198.51.100.{i}") for i in range(4)
    ]
    assert outcomes == ["unknown_session"] * 3 + ["rate_limited"]
    assert any("REALTIME_TRUSTED_PROXIES=0" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "config",
    [{"REALTIME_RATE_LIMIT": -1}, {"REALTIME_RATE_LIMIT_WINDOW": 0}, {"REALTIME_TRUSTED_PROXIES": -1}],
)
def test_impossible_settings_are_startup_errors(make_app, config):
    with pytest.raises(ConfigError, match="cannot work"):
        make_app(**config)


def test_limit_zero_never_limits(make_app, serve):
    live = serve(make_app(REALTIME_RATE_LIMIT=0))
    assert {knock(live.url, {"Cookie": "session=forged"}, "198.51.100.1") for _ in range(30)} == {"no_cookie"}


#: Guesses sent at once by one client in the concurrency attack.
AT_ONCE = 400


def test_guesses_sent_at_once_get_no_more_store_reads_than_the_limit(app_proc, env, arango_server):
    """400 sockets of one address, each with its own signed but unknown session id, send CONNECT together.

    The database is slowed (300 ms a request), so every guess is in flight
    before the first refusal is known: only tokens taken before the read keep
    the reads to the limit.
    """
    client = "203.0.113.50"
    sign = cookie_signer(env["SECRET_KEY"])
    headers = [
        [f"Cookie: session={sign({'sid': new_session_id()})}", f"X-Forwarded-For: {client}"] for _ in range(AT_ONCE)
    ]
    with ThreadPoolExecutor(max_workers=50) as pool:
        sockets = list(pool.map(lambda h: eio.ws_open(app_proc.url, h, timeout=30), headers))
    go = threading.Event()

    def guess(ws: t.Any) -> str:
        go.wait(30)
        ws.send("40")
        answer = eio.ws_recv_socketio(ws)
        eio.ws_close(ws)
        return t.cast(str, json.loads(answer[2:]).get("data", {}).get("reason")) if answer.startswith("44") else answer

    arango_server.reset_stats()
    with arango_server.faults(latency_ms=300), ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        pending = [pool.submit(guess, ws) for ws in sockets]
        go.set()
        outcomes = [future.result(timeout=60) for future in pending]
        reads = arango_server.stats()["by_kind"]["document_read"]
    print(f"\n{AT_ONCE} guesses at once: {reads} store reads, {dict(Counter(outcomes))}")
    assert reads <= LIMIT
    assert outcomes.count("unknown_session") <= LIMIT
    assert outcomes.count("rate_limited") >= AT_ONCE - LIMIT
