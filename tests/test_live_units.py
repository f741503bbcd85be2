"""The pure parts of realtime.live: control messages, expiry heap, revalidation and sliding decisions, queue options."""

from __future__ import annotations

import json

import pytest

from realtime.connections import Identity
from realtime.emitter import Emitter
from realtime.errors import ConfigError
from realtime.live import control, signing
from realtime.live.bus import check_socketio_version, queue_settings, redis_options
from realtime.live.policy import SLIDE_AFTER_FRACTION, chunked, judge, slid_expiry
from realtime.live.schedule import ExpiryQueue, RecentlyEnded
from realtime.sessions import SessionRecord, new_session_id

S1, S2, S3 = new_session_id(), new_session_id(), new_session_id()


# -- control messages ---------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        control.EndSockets((S1, S2), None, "logout"),
        control.EndSockets((), "alice", "revoked"),
        control.EndSockets((S1,), "42", "expired"),
        control.ExtendSessions(S1, 1_900_000_000.5),
    ],
)
def test_control_messages_round_trip(op):
    expected = control.Message(op, "origin-1", 1_800_000_000.25, "n-1")
    text = control.encode(op, "origin-1", sent_at=1_800_000_000.25, nonce="n-1")
    assert control.decode(text) == expected
    assert control.decode(text.encode()) == expected


ENVELOPE = {"v": 2, "origin": "o", "sent_at": 1_800_000_000.0, "nonce": "n"}


def _message(**fields):
    base = {**ENVELOPE, "op": "end", "sessions": [S1], "uid": None, "reason": "revoked"}
    base.update(fields)
    return json.dumps(base)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        "not json",
        "[]",
        json.dumps({"op": "end"}),
        _message(v=1),
        _message(origin=None),
        _message(sent_at=None),
        _message(sent_at="now"),
        _message(sent_at=True),
        _message(nonce=""),
        _message(nonce=7),
        _message(op="explode"),
        _message(sessions="abc"),
        _message(sessions=["short"]),
        _message(sessions=[S1, "../../etc"]),
        _message(sessions=[], uid=None),
        _message(uid=0),
        _message(uid=["alice"]),
        _message(uid=""),
        _message(reason=""),
        _message(reason="x" * 65),
        _message(reason=None),
        json.dumps({**ENVELOPE, "op": "extend", "session": S1, "expires_at": "soon"}),
        json.dumps({**ENVELOPE, "op": "extend", "session": S1, "expires_at": True}),
        json.dumps({**ENVELOPE, "op": "extend", "session": "x", "expires_at": 5}),
        json.dumps({**ENVELOPE, "op": "extend", "session": S1}).replace("}", ', "expires_at": NaN}'),
    ],
)
def test_malformed_control_messages_are_dropped(raw):
    assert control.decode(raw) is None


# -- signed control messages -----------------------------------------------------

NEW_KEY, OLD_KEY = "new-key-" + "n" * 32, "old-key-" + "o" * 32
END = control.EndSockets((S1,), None, "revoked")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signed_message_is_heard_once():
    clock = Clock()
    sender, receiver = signing.ControlSigner(NEW_KEY, clock=clock), signing.ControlSigner(NEW_KEY, clock=clock)
    signed = sender.sign(END, "origin-1")
    assert receiver.verify(signed) == (END, "origin-1")
    with pytest.raises(signing.DroppedMessage) as info:
        receiver.verify(signed.encode())
    assert info.value.reason == signing.REPLAYED


def test_during_a_rotation_both_keys_are_heard_and_the_new_one_signs():
    rotated = signing.ControlSigner(NEW_KEY, [OLD_KEY])
    assert rotated.verify(signing.ControlSigner(OLD_KEY).sign(END, "not-yet-deployed")) == (END, "not-yet-deployed")
    assert signing.ControlSigner(NEW_KEY).verify(rotated.sign(END, "deployed")) == (END, "deployed")
    with pytest.raises(signing.DroppedMessage):
        signing.ControlSigner(OLD_KEY).verify(rotated.sign(END, "deployed"))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (control.encode(END, "forger", sent_at=1_800_000_000.0, nonce="n"), signing.UNSIGNED),
        (control.encode(END, "forger", sent_at=1_800_000_000.0, nonce="n") + ".c2lnbmF0dXJl", signing.BAD_SIGNATURE),
        (signing.ControlSigner("another-key-" + "x" * 32).sign(END, "o"), signing.BAD_SIGNATURE),
        (b"\xff\xfe", signing.BAD_SIGNATURE),
        ("", signing.BAD_SIGNATURE),
    ],
)
def test_messages_not_signed_with_our_keys_are_dropped(raw, reason):
    with pytest.raises(signing.DroppedMessage) as info:
        signing.ControlSigner(NEW_KEY, [OLD_KEY], clock=Clock()).verify(raw)
    assert info.value.reason == reason


def test_a_signed_message_with_a_bad_body_is_dropped():
    from itsdangerous import Signer

    signer = signing.ControlSigner(NEW_KEY)
    raw = signer._signer.sign('{"v": 2, "op": "explode"}')
    with pytest.raises(signing.DroppedMessage) as info:
        signer.verify(raw)
    assert info.value.reason == signing.MALFORMED and isinstance(signer._signer, Signer)


@pytest.mark.parametrize("offset", [-signing.MAX_AGE - 1, signing.MAX_AGE + 1])
def test_messages_sent_outside_the_window_are_dropped(offset):
    sent = Clock()
    signed = signing.ControlSigner(NEW_KEY, clock=sent).sign(END, "o")
    receiver = signing.ControlSigner(NEW_KEY, clock=Clock(sent.now - offset))
    with pytest.raises(signing.DroppedMessage) as info:
        receiver.verify(signed)
    assert info.value.reason == signing.STALE


def test_nonces_are_forgotten_once_their_message_is_too_old_anyway():
    clock = Clock()
    signer = signing.ControlSigner(NEW_KEY, clock=clock)
    for _ in range(3):
        signer.verify(signer.sign(END, "o"))
    clock.now += signing.MAX_AGE + 1
    signer.verify(signer.sign(END, "o"))
    assert len(signer._heard) == 1


def test_control_signatures_are_not_cookie_signatures():
    from tests.support.hardening import cookie_signer

    cookie = cookie_signer(NEW_KEY)({"sid": S1})
    with pytest.raises(signing.DroppedMessage):
        signing.ControlSigner(NEW_KEY).verify(cookie)


def test_the_signer_of_a_rotating_config_hears_the_old_key():
    """What an app builds from SECRET_KEY_FALLBACKS, not only the constructor: a revocation from an instance
    still on the old key ends sockets here too."""
    signed = signing.ControlSigner(OLD_KEY).sign(END, "not-yet-deployed")
    rotating = signing.ControlSigner.from_config({"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": [OLD_KEY]})
    assert rotating.verify(signed) == (END, "not-yet-deployed")
    assert signing.ControlSigner.from_config({"SECRET_KEY": NEW_KEY}).verify(rotating.sign(END, "o")) == (END, "o")


def test_a_string_of_fallback_keys_is_refused():
    with pytest.raises(ConfigError, match="not one string"):
        signing.ControlSigner(NEW_KEY, "old-key")


def test_drops_are_logged_at_most_once_per_interval_with_counts():
    import logging

    from realtime.live.service import DropReport

    clock = Clock(0.0)
    report = DropReport("chan:realtime-control", clock=clock)
    # Watched directly: configure_logging stops "realtime" from propagating to caplog's root handler.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    service_logger = logging.getLogger("realtime.live.service")
    service_logger.addHandler(handler)
    try:
        report.add("unsigned")
        for _ in range(500):
            report.add("unsigned")
        report.add("stale")
        clock.now += DropReport.INTERVAL
        report.add("unsigned")
    finally:
        service_logger.removeHandler(handler)
    lines = [r.getMessage() for r in records]
    assert len(lines) == 2
    assert "(1 unsigned)" in lines[0] and "(1 stale, 501 unsigned)" in lines[1]
    assert "chan:realtime-control" in lines[0] and "SECRET_KEY" in lines[0]


def test_room_and_channel_names():
    assert control.user_room("alice") == "user:alice"
    assert control.session_room(S1) == f"session:{S1}"
    assert control.DEFAULT_CHANNEL == "flask-socketio"
    assert control.control_channel("flask-socketio") == "flask-socketio:realtime-control"


def test_reason_must_be_a_short_string():
    assert control.check_reason("logout") == "logout"
    for bad in ("", None, 3, "x" * 65):
        with pytest.raises(ValueError):
            control.check_reason(bad)


# -- expiry heap ---------------------------------------------------------------

A, B, C = ("a", "/"), ("b", "/"), ("c", "/chat")


def test_expiry_queue_pops_due_sockets_in_order_with_their_reason():
    queue = ExpiryQueue()
    queue.schedule(A, 30.0)
    queue.schedule(B, 10.0)
    queue.schedule(C, 20.0, "logout")
    assert queue.next_deadline() == 10.0
    assert queue.pop_due(9.9) == []
    assert queue.pop_due(20.0) == [(B, "expired"), (C, "logout")]
    assert len(queue) == 1 and queue.next_deadline() == 30.0


def test_expiry_queue_cancel_and_reschedule():
    queue = ExpiryQueue()
    queue.schedule(A, 10.0)
    queue.schedule(B, 11.0)
    queue.cancel(A)
    queue.schedule(B, 50.0)  # moved later: the old entry must not fire
    assert queue.next_deadline() == 50.0
    assert queue.pop_due(49.0) == []
    assert queue.entry(B) == (50.0, "expired")
    assert queue.pop_due(50.0) == [(B, "expired")]
    assert len(queue) == 0 and queue.next_deadline() is None


def test_expiry_queue_compacts_stale_entries():
    queue = ExpiryQueue()
    for i in range(10_000):
        ref = (f"s{i}", "/")
        queue.schedule(ref, 1e9 + i)
        queue.cancel(ref)
    queue.schedule(A, 5.0)
    # Without compaction the heap would hold 10,001 tuples until 1e9.
    assert len(queue._heap) < 200
    assert queue.pop_due(1e10) == [(A, "expired")]


def test_recently_ended_remembers_briefly():
    ended = RecentlyEnded(keep=60)
    ended.add([S1, S2], "logout", now=100.0)
    ended.add([S3], "revoked", now=130.0)
    assert ended.reason_for(S1, now=159.0) == "logout"
    assert ended.reason_for(S1, now=161.0) is None
    assert ended.reason_for(S3, now=161.0) == "revoked"
    assert len(ended) == 1


# -- revalidation ----------------------------------------------------------------


def _record(sid, uid="alice", expires_at=1000.0):
    return SessionRecord(sid=sid, uid=uid, created_at=0.0, expires_at=expires_at)


def test_judge_ends_vanished_stripped_and_reassigned_sessions():
    identities = {
        ("k1", "/"): Identity("alice", S1, 1000.0),  # record intact
        ("k2", "/"): Identity("alice", S2, 1000.0),  # record deleted
        ("k3", "/"): Identity("alice", S3, 1000.0),  # uid stripped
        ("k4", "/"): Identity("bob", S1, 1000.0),  # record now belongs to alice
    }
    records = {S1: _record(S1), S3: _record(S3, uid=None)}
    verdict = judge(identities, records, now=500.0)
    assert sorted(verdict.ended) == [(("k2", "/"), "revoked"), (("k3", "/"), "revoked"), (("k4", "/"), "revoked")]
    assert verdict.moved == []


def test_judge_reports_expired_and_moved_expiries():
    identities = {("k1", "/"): Identity("alice", S1, 400.0), ("k2", "/"): Identity("alice", S2, 1000.0)}
    records = {S2: _record(S2, expires_at=2000.0)}
    verdict = judge(identities, records, now=500.0)
    assert verdict.ended == [(("k1", "/"), "expired")]
    assert verdict.moved == [(("k2", "/"), 2000.0)]


def test_chunked():
    assert list(chunked([], 3)) == []
    assert list(chunked(list("abcdefg"), 3)) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


# -- sliding -----------------------------------------------------------------------


def test_sliding_rewrites_only_after_a_fraction_of_the_lifetime():
    lifetime = 1000.0
    fresh = _record(S1, expires_at=2000.0)  # issued at 1000
    assert slid_expiry(fresh, now=1000.0 + lifetime * SLIDE_AFTER_FRACTION - 1, lifetime=lifetime) is None
    now = 1000.0 + lifetime * SLIDE_AFTER_FRACTION
    assert slid_expiry(fresh, now=now, lifetime=lifetime) == now + lifetime


def test_sliding_never_touches_anonymous_expired_or_longer_records():
    assert slid_expiry(_record(S1, uid=None, expires_at=100.0), now=99.0, lifetime=1000.0) is None
    assert slid_expiry(_record(S1, expires_at=100.0), now=100.0, lifetime=1000.0) is None
    assert slid_expiry(_record(S1, expires_at=10_000.0), now=0.0, lifetime=1000.0) is None


# -- queue configuration -------------------------------------------------------------


def test_no_queue_means_no_settings():
    assert queue_settings({}) is None


def test_redis_url_wins_unless_realtime_message_queue_is_set():
    assert queue_settings({"REDIS_URL": "redis://h:1/0"})[0] == "redis://h:1/0"
    settings = {"REDIS_URL": "redis://h:1/0", "REALTIME_MESSAGE_QUEUE": "redis://q:2/0", "REALTIME_CHANNEL": "c"}
    assert queue_settings(settings) == ("redis://q:2/0", "c", {})


@pytest.mark.parametrize("url", ["amqp://guest@localhost//", "kafka://localhost:9092", "zmq+tcp://x:1"])
def test_queues_other_than_redis_are_refused(url):
    with pytest.raises(ConfigError, match="redis:// or rediss://"):
        queue_settings({"REDIS_URL": url})


def test_tls_options_for_self_signed_and_private_ca():
    tls = {"REDIS_URL": "rediss://h:6380/0"}
    assert redis_options(tls) == {}
    assert redis_options({**tls, "REALTIME_REDIS_SSL_VERIFY": False}) == {"ssl_cert_reqs": None}
    assert redis_options({**tls, "REALTIME_REDIS_CA_CERTS": "/ca.pem"}) == {"ssl_ca_certs": "/ca.pem"}
    # Plain redis:// gets no TLS options whatever is set.
    assert redis_options({"REDIS_URL": "redis://h/0", "REALTIME_REDIS_SSL_VERIFY": False}) == {}


def test_old_python_socketio_is_refused():
    check_socketio_version("5.14.0")
    check_socketio_version("5.18.1")
    with pytest.raises(ConfigError, match=">= 5.14"):
        check_socketio_version("5.13.2")


def test_uids_are_normalized_like_the_guard_does():
    assert control.check_uid("alice") == "alice"
    assert control.check_uid(42) == "42"
    for bad in (0, "", None, ["alice"], True):
        with pytest.raises(ValueError):
            control.check_uid(bad)


# -- the Emitter's configuration (no network is touched before a call) --------------


def test_emitter_needs_a_redis_queue():
    with pytest.raises(ConfigError, match="none is configured"):
        Emitter({})
    with pytest.raises(ConfigError, match="redis:// or rediss://"):
        Emitter({"REDIS_URL": "amqp://guest@127.0.0.1//"})


def test_emitter_refuses_to_revoke_without_the_session_store():
    with Emitter({"REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": "k" * 32}) as emitter:
        with pytest.raises(ConfigError, match="Revoking needs the session store"):
            emitter.revoke_user("alice")
        with pytest.raises(ValueError, match="not a session id"):
            emitter.revoke_session("../etc/passwd")


def test_emitter_refuses_to_revoke_unsigned_before_deleting_anything():
    class Untouchable:
        def delete(self, sid):
            raise AssertionError("deleted a record it could not announce")

        delete_user = delete

    with Emitter({"REDIS_URL": "redis://127.0.0.1:6379/0"}, store=Untouchable()) as emitter:  # type: ignore[arg-type]
        for revoke in (lambda: emitter.revoke_user("alice"), lambda: emitter.revoke_session(S1)):
            with pytest.raises(ConfigError, match="signed with SECRET_KEY, and it is not set"):
                revoke()


def test_emitter_refuses_a_string_of_fallback_keys():
    with pytest.raises(ConfigError, match="SECRET_KEY_FALLBACKS in app.config is a string"):
        Emitter({"REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": "k" * 32, "SECRET_KEY_FALLBACKS": "a,b"})


def test_emitter_from_config_reads_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "rediss://127.0.0.1:6380/0")
    monkeypatch.setenv("REALTIME_CHANNEL", "shop")
    monkeypatch.setenv("REALTIME_REDIS_SSL_VERIFY", "false")
    monkeypatch.setenv("SECRET_KEY", "new-" + "k" * 32)
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", "old-" + "o" * 32)
    with Emitter.from_config() as emitter:
        signed = emitter.signer.sign(control.EndSockets((S1,), None, "revoked"), "e")
        assert signing.ControlSigner("new-" + "k" * 32).verify(signed)[1] == "e"
        with pytest.raises(signing.DroppedMessage):
            signing.ControlSigner("old-" + "o" * 32).verify(signed)
        assert emitter.manager.channel == "shop"
        assert emitter.manager.redis_options == {"ssl_cert_reqs": None}
        assert emitter.bus.channel == "shop:realtime-control"
        assert emitter.store is None


def test_expiry_queue_keeps_each_reason_and_replaces_it_on_reschedule():
    queue = ExpiryQueue()
    queue.schedule(A, 10.0, "logout")
    queue.schedule(B, 10.0)
    queue.schedule(C, 10.0, "revoked")
    queue.schedule(C, 10.0)  # same deadline, back to the usual reason
    assert queue.entry(A) == (10.0, "logout") and queue.entry(C) == (10.0, "expired")
    # Equal deadlines pop in ref order; the replaced entry of C fires once.
    assert queue.pop_due(10.0) == [(A, "logout"), (B, "expired"), (C, "expired")]
    assert queue.entry(A) is None and len(queue) == 0
