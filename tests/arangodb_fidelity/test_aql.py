"""Fidelity of the ArangoDB test server: the app's fixed AQL queries and TTL expiry."""

from __future__ import annotations

import time

import pytest
from arango.exceptions import AQLQueryExecuteError, CursorCloseError, DocumentDeleteError

from realtime.stores.arango import aql
from tests.arangodb.aql import QueryEngine
from tests.arangodb.ttl import ttl_timestamp


@pytest.fixture
def sessions(arango_database):
    col = arango_database.create_collection("sessions")
    col.insert_many(
        [
            {"_key": "s1", "uid": "alice", "created_at": 100, "expires_at": 500},
            {"_key": "s2", "uid": "bob", "created_at": 300, "expires_at": 900},
            {"_key": "s3", "uid": "alice", "created_at": 200, "expires_at": 1000.5},
            {"_key": "s4", "created_at": 50, "expires_at": "not a number"},
            {"_key": "s5", "uid": 1, "created_at": "later", "expires_at": True},
        ]
    )
    return col


def run(db, query, **bind_vars):
    return db.aql.execute(query, bind_vars={"@collection": "sessions", **bind_vars})


def test_every_app_query_is_supported():
    assert set(QueryEngine().queries) == set(aql.ALL)


def test_sessions_of_user_returns_full_documents(arango_database, sessions):
    found = list(run(arango_database, aql.SESSIONS_OF_USER, uid="alice"))
    assert sorted(doc["_key"] for doc in found) == ["s1", "s3"]
    assert found[0] == sessions.get(found[0]["_key"])  # _key, _id, _rev and all attributes
    assert list(run(arango_database, aql.SESSIONS_OF_USER, uid="nobody")) == []


def test_sessions_of_user_uses_aql_equality(arango_database, sessions):
    """``1 == "1"`` is false in AQL; a missing uid equals null."""
    assert [d["_key"] for d in run(arango_database, aql.SESSIONS_OF_USER, uid=1)] == ["s5"]
    assert list(run(arango_database, aql.SESSIONS_OF_USER, uid="1")) == []
    assert [d["_key"] for d in run(arango_database, aql.SESSIONS_OF_USER, uid=None)] == ["s4"]


def test_list_sessions_sorts_descending_with_aql_type_order(arango_database, sessions):
    """Strings sort above numbers in AQL, so ``"later"`` comes first in DESC order."""
    keys = [doc["_key"] for doc in run(arango_database, aql.LIST_SESSIONS, limit=10)]
    assert keys == ["s5", "s2", "s3", "s1", "s4"]
    assert [doc["_key"] for doc in run(arango_database, aql.LIST_SESSIONS, limit=2)] == ["s5", "s2"]
    assert list(run(arango_database, aql.LIST_SESSIONS, limit=0)) == []


def test_purge_expired_removes_numeric_expired_only(arango_database, sessions):
    cursor = run(arango_database, aql.PURGE_EXPIRED, now=900)
    assert sorted(cursor) == ["s1", "s2"]
    assert cursor.statistics()["modified"] == 2
    assert cursor.has_more() is False
    assert sessions.count() == 3
    assert sessions.get_many(["s3", "s4", "s5"]) and sessions.get("s1") is None
    assert list(run(arango_database, aql.PURGE_EXPIRED, now=900)) == []


def test_cursor_response_shape(arango_database, sessions):
    cursor = arango_database.aql.execute(
        aql.SESSIONS_OF_USER, bind_vars={"@collection": "sessions", "uid": "alice"}, count=True, batch_size=1
    )
    # batchSize is ignored: everything comes in the first batch, hasMore is false.
    assert cursor.count() == 2 and cursor.has_more() is False and cursor.id is None
    assert cursor.cached() is False and cursor.warnings() == []
    assert cursor.close() is None


def test_other_queries_are_rejected_with_1501(arango_database, sessions):
    for query in ("FOR d IN @@collection RETURN d", aql.SESSIONS_OF_USER + " ", "RETURN 1"):
        with pytest.raises(AQLQueryExecuteError) as info:
            arango_database.aql.execute(query, bind_vars={"@collection": "sessions"})
        assert info.value.http_code == 400 and info.value.error_code == 1501
    with pytest.raises(DocumentDeleteError) as info:
        sessions.delete_match({"uid": "alice"})  # driver-built AQL is not supported either
    assert info.value.error_code == 1501


def test_bind_parameter_errors(arango_database, sessions):
    cases = [
        ({"@collection": "sessions"}, 1551),
        ({"@collection": "sessions", "uid": "a", "extra": 1}, 1552),
        ({"@collection": 5, "uid": "a"}, 1553),
    ]
    for bind_vars, error_code in cases:
        with pytest.raises(AQLQueryExecuteError) as info:
            arango_database.aql.execute(aql.SESSIONS_OF_USER, bind_vars=bind_vars)
        assert info.value.http_code == 400 and info.value.error_code == error_code
    with pytest.raises(AQLQueryExecuteError) as info:
        run(arango_database, aql.LIST_SESSIONS, limit="ten")
    assert info.value.error_code == 1553


def test_query_on_missing_collection_is_1203(arango_database):
    with pytest.raises(AQLQueryExecuteError) as info:
        arango_database.aql.execute(aql.SESSIONS_OF_USER, bind_vars={"@collection": "nope", "uid": "a"})
    assert info.value.http_code == 404 and info.value.error_code == 1203


def test_cursor_continuation_is_404_1600(arango_server, arango_database):
    import requests

    auth = (arango_server.username, arango_server.password)
    url = f"{arango_server.url}/_db/{arango_database.name}/_api/cursor/12345"
    assert requests.post(url, auth=auth, timeout=5).json()["errorNum"] == 1600
    assert requests.delete(url, auth=auth, timeout=5).status_code == 404


def test_closing_an_unknown_cursor_raises(arango_database):
    from arango.cursor import Cursor

    cursor = Cursor(arango_database.conn, {"id": "999", "result": [], "hasMore": True})
    with pytest.raises(CursorCloseError):
        cursor.close()
    assert cursor.close(ignore_missing=True) is False


# -- TTL -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1700000000, 1700000000.0),
        (1.5, 1.5),
        ("1970-01-02", 86400.0),
        ("1970-01-01T00:01:00Z", 60.0),
        ("1970-01-01T01:00:00+01:00", 0.0),
        ("1970-01-01T00:00:01.5", 1.5),
        ("1970-01-01 00:02", 120.0),
        ("tomorrow", None),
        ("2024-13-01", None),
        ("1700000000", None),
        (True, None),
        (None, None),
        (-5, None),
        ({"at": 1}, None),
    ],
)
def test_ttl_values(value, expected):
    assert ttl_timestamp(value) == expected


def test_ttl_sweep_removes_expired_documents(start_arango_server):
    """A 1 s sweep removes expired Unix-seconds and ISO-date documents; others stay."""
    server = start_arango_server(ttl_frequency=1, state_file=False)
    client = server.client()
    try:
        db = server.db(client)
        col = db.create_collection("sessions")
        col.add_index({"type": "ttl", "fields": ["expires_at"], "expireAfter": 0})
        grace = db.create_collection("grace")
        grace.add_index({"type": "ttl", "fields": ["at"], "expireAfter": 3600})
        now = time.time()
        documents = [
            {"_key": "past_seconds", "expires_at": now - 10},
            {"_key": "past_iso", "expires_at": "2001-02-03T04:05:06Z"},
            {"_key": "soon", "expires_at": now + 0.5},
            {"_key": "future_seconds", "expires_at": now + 3600},
            {"_key": "future_iso", "expires_at": "2999-01-01"},
            {"_key": "not_a_date", "expires_at": "tomorrow"},
            {"_key": "numeric_string", "expires_at": str(int(now - 10))},
            {"_key": "boolean", "expires_at": True},
            {"_key": "missing"},
        ]
        col.insert_many(documents)
        grace.insert_many([{"_key": "recent", "at": now - 60}, {"_key": "old", "at": now - 7200}])
        expected = {"future_seconds", "future_iso", "not_a_date", "numeric_string", "boolean", "missing"}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            keys = {doc["_key"] for doc in col.get_many([doc["_key"] for doc in documents])}
            if keys == expected:
                break
            time.sleep(0.2)
        assert keys == expected
        assert {doc["_key"] for doc in grace.get_many(["recent", "old"])} == {"recent"}
    finally:
        client.close()


def test_expired_documents_stay_readable_until_the_sweep(arango_database):
    """With the default 30 s sweep an expired document is still there: stores must check expiry."""
    col = arango_database.create_collection("sessions")
    col.add_index({"type": "ttl", "fields": ["expires_at"], "expireAfter": 0})
    col.insert({"_key": "expired", "expires_at": time.time() - 60})
    assert col.get("expired") is not None
