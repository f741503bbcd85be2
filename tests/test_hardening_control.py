"""A writer on Redis: forged, replayed and stale control messages against two gunicorn eventlet instances.

The attacker publishes with redis-py on the control channel the instances
listen to (``<channel>:realtime-control``), as anything with write access
to that Redis could. Revalidation is off in these instances, so the control
channel alone decides whether a socket ends. The instances run in the middle
of a key rotation (``SECRET_KEY`` new, the old one in
``SECRET_KEY_FALLBACKS``).
"""

from __future__ import annotations

import json
import threading
import time
import typing as t

import pytest
import redis

from realtime.live.control import EndSockets, ExtendSessions, control_channel, encode
from realtime.live.signing import MAX_AGE, ControlSigner
from tests.support.live import login, queue_env, running, session_info
from tests.support.procs import Browser
from tests.test_ops_metrics import scrape, value

NEW_KEY = "control-new-key-" + "n" * 32
OLD_KEY = "control-old-key-" + "o" * 32
#: Long enough for a message to cross Redis and be applied many times over (it takes milliseconds).
SETTLE = 1.5


@pytest.fixture(scope="module")
def env(request):
    e2e_env = request.getfixturevalue("e2e_env")
    return queue_env(e2e_env, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=OLD_KEY, REALTIME_REVALIDATE_INTERVAL="0")


@pytest.fixture(scope="module")
def instances(env):
    with running(env) as (a, b, _):
        yield a, b


@pytest.fixture
def attacker(env):
    """``publish(text)`` on the instances' control channel, straight to Redis."""
    client = redis.Redis.from_url(env["REDIS_URL"])
    channel = control_channel(env["REALTIME_CHANNEL"])
    yield lambda text: client.publish(channel, text)
    client.close()


@pytest.fixture
def sessions_collection(arango_server, env):
    client = arango_server.client()
    yield arango_server.db(client, env["ARANGO_DB"]).collection("sessions")
    client.close()


def unsigned(op: EndSockets | ExtendSessions) -> list[str]:
    """``op`` as the unsigned JSON of before signing (format 1), and as today's JSON without its signature."""
    today = json.loads(encode(op, "forger", sent_at=time.time(), nonce="forged"))
    before = {key: value for key, value in today.items() if key not in ("sent_at", "nonce")}
    return [json.dumps({**before, "v": 1}), json.dumps(today)]


def dropped(instance: t.Any, reason: str) -> float:
    return value(scrape(instance.url), "realtime_control_messages_dropped_total", reason=reason)


def test_a_forged_unsigned_end_message_ends_no_socket(instances, clients, attacker):
    a, b = instances
    victim = login(a)
    on_a, on_b = clients(a, victim), clients(b, victim)
    before = dropped(b, "unsigned")

    for text in unsigned(EndSockets((session_info(victim)["sid"],), "alice", "hacked")):
        assert attacker(text) == 2  # both instances are listening
    time.sleep(SETTLE)

    assert on_a.alive() and on_b.alive(), "a forged control message ended the victim's sockets"
    assert on_b.events("session_ended") == []
    assert dropped(b, "unsigned") == before + 2
    assert "Dropped control message(s)" in b.output()


def test_a_forged_extend_does_not_keep_an_expired_socket_alive(instances, clients, attacker, sessions_collection):
    a, b = instances
    victim = login(a)
    sid = session_info(victim)["sid"]
    expires_at = time.time() + 2.0
    # Set directly in the database: the socket connects with this expiry.
    sessions_collection.update({"_key": sid, "expires_at": expires_at})
    on_b = clients(b, victim)

    for text in unsigned(ExtendSessions(sid, time.time() + 3600)):
        attacker(text)
    assert on_b.wait_ended(expires_at - time.time() + 1.5), "a forged extend kept an expired socket alive"
    assert on_b.ended_by_server("expired")


def test_a_message_signed_with_the_fallback_key_is_honoured_during_rotation(instances, clients, attacker):
    a, b = instances
    victim, bystander = login(a), login(a)
    on_a, on_b, other = clients(a, victim), clients(b, victim), clients(b, bystander)

    # An instance (or Emitter) not yet given the new key still signs with the old one.
    not_yet_rotated = ControlSigner(OLD_KEY)
    attacker(not_yet_rotated.sign(EndSockets((session_info(victim)["sid"],), None, "revoked"), "old-instance"))
    assert on_a.wait_ended(SETTLE) and on_b.wait_ended(SETTLE)
    assert on_a.ended_by_server("revoked") and on_b.ended_by_server("revoked")

    # A key that is neither current nor a fallback is not.
    before = dropped(b, "bad_signature")
    attacker(ControlSigner("some-other-key-" + "x" * 32).sign(EndSockets((), "bob", "hacked"), "x"))
    time.sleep(SETTLE)
    assert other.alive() and dropped(b, "bad_signature") == before + 1


def test_replayed_and_old_signed_messages_are_dropped(instances, clients, attacker, env):
    a, b = instances
    captured = _capture_next(env)
    first = login(a, "bob")
    clients(b, first)
    # A legitimate revocation of every session of bob, recorded off the wire.
    assert Browser(a.url).request("POST", "/_test/revoke/user/bob").status_code == 200
    message = captured()

    # bob logs in again; replaying the capture would end his new socket (same uid).
    again = login(a, "bob")
    on_a, on_b = clients(a, again), clients(b, again)
    replayed_before, stale_before = dropped(b, "replayed"), dropped(b, "stale")
    attacker(message)
    # The same operation signed with the real key, but sent (so it says) before the window.
    old = ControlSigner(NEW_KEY, clock=lambda: time.time() - MAX_AGE - 5)
    attacker(old.sign(EndSockets((), "bob", "revoked"), "recorded-earlier"))
    time.sleep(SETTLE)

    assert on_a.alive() and on_b.alive(), "a replayed or old revocation ended a new session"
    assert dropped(b, "replayed") == replayed_before + 1
    assert dropped(b, "stale") == stale_before + 1


def _capture_next(env: dict[str, str]) -> t.Callable[[], bytes]:
    """Start recording the control channel now; the returned call gives the first message published."""
    client = redis.Redis.from_url(env["REDIS_URL"])
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(control_channel(env["REALTIME_CHANNEL"]))
    heard: list[bytes] = []
    done = threading.Event()

    def record() -> None:
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "message":
                heard.append(message["data"])
        done.set()

    # Subscribed before anything is published: get_message confirms the subscription.
    pubsub.get_message(timeout=1.0)
    threading.Thread(target=record, daemon=True).start()

    def result() -> bytes:
        done.wait(12)
        pubsub.close()
        client.close()
        assert heard, "nothing was published on the control channel"
        return heard[0]

    return result
