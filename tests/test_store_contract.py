"""The store contract: one suite, run against every SessionStore implementation.

Targets: the embedded SQLite store, the ArangoDB store on our ArangoDB test
server (with each ``ARANGO_HTTP_CLIENT``), and the ArangoDB store on a real ArangoDB when ``ARANGO_TEST_URL`` is
set. Only what a real ArangoDB guarantees is asserted (no ``_rev`` formats,
no message texts, no TTL-removal timing).
"""

from __future__ import annotations

import os
import uuid

import pytest

from realtime.errors import StoreError
from realtime.sessions import SessionRecord, new_session_id
from realtime.stores.arango import ArangoSessionStore, connect
from realtime.stores.sqlite import SqliteDatabase, SqliteSessionStore


class Clock:
    """A settable clock, so expiry is tested without sleeping."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _arango_store(url: str, username: str, password: str, clock: Clock, **options) -> ArangoSessionStore:
    db_name = "contract_" + uuid.uuid4().hex[:10]
    client, db = connect(url, db_name, username, password, timeout=5, **options)
    store = ArangoSessionStore(client, db, username=username, password=password, clock=clock)
    store.init_schema()
    return store


@pytest.fixture(params=["embedded", "arango-test-server", "arango-test-server-requests", "arango-real"])
def store_and_clock(request, tmp_path):
    clock = Clock()
    if request.param == "embedded":
        yield SqliteSessionStore(SqliteDatabase(str(tmp_path / "s.sqlite3")), clock=clock), clock
        return
    if request.param.startswith("arango-test-server"):
        # Both ARANGO_HTTP_CLIENT choices: the lean default and python-arango's own.
        server = request.getfixturevalue("arango_server")
        client = "requests" if request.param.endswith("-requests") else "lean"
        store = _arango_store(server.url, server.username, server.password, clock, http_client=client)
    else:
        url = os.environ.get("ARANGO_TEST_URL")
        if not url:
            pytest.skip("real ArangoDB: set ARANGO_TEST_URL (and ARANGO_TEST_USERNAME/ARANGO_TEST_PASSWORD) to run")
        store = _arango_store(
            url, os.environ.get("ARANGO_TEST_USERNAME", "root"), os.environ.get("ARANGO_TEST_PASSWORD", ""), clock
        )
    yield store, clock
    sys_db = store.client.db("_system", username=store._credentials[0], password=store._credentials[1])
    sys_db.delete_database(store.db.name, ignore_missing=True)


@pytest.fixture
def store(store_and_clock):
    return store_and_clock[0]


def test_create_then_get_returns_the_same_record(store):
    record = store.create("u1", lifetime=60)
    assert store.get(record.sid) == record


def test_anonymous_record_round_trips(store):
    record = store.create(None, lifetime=60)
    loaded = store.get(record.sid)
    assert loaded is not None and loaded.uid is None and not loaded.is_authenticated


def test_unknown_id_is_none(store):
    assert store.get(new_session_id()) is None


@pytest.mark.parametrize("bad", [None, 1, "", "x", "a/b" * 20, "a?b" * 20, "%41" * 20, "a b" * 20, "é" * 43])
def test_malformed_ids_read_as_missing(store, bad):
    assert store.get(bad) is None
    assert store.delete(bad) is False


def test_expired_record_reads_as_missing_before_any_ttl_removal(store_and_clock):
    store, clock = store_and_clock
    record = store.create("u1", lifetime=10)
    clock.now += 9.9
    assert store.get(record.sid) == record
    clock.now += 0.1
    assert store.get(record.sid) is None


def test_save_replaces_an_existing_record(store):
    record = store.create(None, lifetime=60)
    upgraded = SessionRecord(record.sid, "u2", record.created_at, record.expires_at + 100)
    store.save(upgraded)
    assert store.get(record.sid) == upgraded


def test_delete_removes_only_that_record(store):
    keep, drop = store.create("u1", 60), store.create("u1", 60)
    assert store.delete(drop.sid) is True
    assert store.get(drop.sid) is None
    assert store.get(keep.sid) == keep
    assert store.delete(drop.sid) is False


def test_get_many_returns_live_records_only(store_and_clock):
    store, clock = store_and_clock
    live = store.create("u1", 60)
    short = store.create("u1", 5)
    clock.now += 6
    found = store.get_many([live.sid, short.sid, new_session_id(), "not valid"])
    assert found == {live.sid: live}


def test_sessions_of_user_and_delete_user(store):
    a1, a2, b = store.create("alice", 60), store.create("alice", 60), store.create("bob", 60)
    assert {r.sid for r in store.sessions_of_user("alice")} == {a1.sid, a2.sid}
    assert sorted(store.delete_user("alice")) == sorted([a1.sid, a2.sid])
    assert store.sessions_of_user("alice") == []
    assert store.get(b.sid) == b


def test_recent_lists_newest_first(store_and_clock):
    store, clock = store_and_clock
    first = store.create("u", 60)
    clock.now += 1
    second = store.create("u", 60)
    sids = [r.sid for r in store.recent(10)]
    assert sids.index(second.sid) < sids.index(first.sid)


def test_purge_expired_deletes_only_expired(store_and_clock):
    store, clock = store_and_clock
    old, fresh = store.create("u", 5), store.create("u", 600)
    clock.now += 10
    assert store.purge_expired() >= 1
    clock.now -= 10  # the old record would be live again, if it still existed
    assert store.get(old.sid) is None
    assert store.get(fresh.sid) == fresh


def test_init_schema_is_idempotent(store):
    assert store.init_schema() == []
    store.ping()


def test_unreachable_arango_raises_store_error_quickly():
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, db = connect(f"http://127.0.0.1:{port}", "realtime", "root", "", timeout=1)
    store = ArangoSessionStore(client, db)
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        store.get(new_session_id())
    assert time.monotonic() - started < 2
    assert "cannot connect" in str(info.value)
