"""Fidelity of the ArangoDB test server: edge collections (type 3).

``_from``/``_to`` must be document ids (``<collection>/<key>``, the collection
need not exist) on every insert and replace, may be left out of an update,
and an invalid one is 400/1233 "edge attribute missing or invalid"
(``transaction::helpers::newObjectForInsert``/``Replace``,
``mergeObjectsForUpdate``). The edge index is listed as one entry, id
``<collection>/2``, over ``["_from", "_to"]`` (``methods::Indexes::getAll``).
"""

from __future__ import annotations

import pytest
from arango.exceptions import (
    DocumentInsertError,
    DocumentReplaceError,
    DocumentUpdateError,
    IndexCreateError,
    IndexDeleteError,
)

INVALID_EDGE_ATTRIBUTE = (400, 1233, "edge attribute missing or invalid")


@pytest.fixture
def edges(arango_database):
    return arango_database.create_collection("knows", edge=True)


def assert_invalid_edge(error):
    assert (error.http_code, error.error_code, error.error_message) == INVALID_EDGE_ATTRIBUTE


def test_edge_collection_is_type_3(arango_database, edges):
    assert edges.properties()["edge"] is True and edges.properties()["type"] == 3
    listed = {c["name"]: c for c in arango_database.collections()}
    assert listed["knows"]["type"] == "edge"
    documents = arango_database.create_collection("people")
    assert documents.properties()["type"] == 2


def test_insert_stores_from_and_to_after_id(edges):
    result = edges.insert({"_key": "e1", "_from": "people/alice", "_to": "people/bob", "since": 2020})
    stored = edges.get("e1")
    assert stored == {**result, "_from": "people/alice", "_to": "people/bob", "since": 2020}
    assert list(stored)[:5] == ["_key", "_id", "_from", "_to", "_rev"]


@pytest.mark.parametrize(
    "edge",
    [
        {},
        {"_from": "people/alice"},
        {"_to": "people/bob"},
        {"_from": "alice", "_to": "people/bob"},
        {"_from": "people/alice", "_to": "people/"},
        {"_from": "/alice", "_to": "people/bob"},
        {"_from": "people/al ice", "_to": "people/bob"},
        {"_from": "1people/alice", "_to": "people/bob"},
        {"_from": 12, "_to": "people/bob"},
        {"_from": None, "_to": "people/bob"},
        {"_from": "people/alice", "_to": ["people/bob"]},
    ],
)
def test_insert_refuses_missing_or_invalid_from_to(edges, edge):
    with pytest.raises(DocumentInsertError) as info:
        edges.insert(edge)
    assert_invalid_edge(info.value)
    assert edges.count() == 0


@pytest.mark.parametrize("value", ["123/alice", "_system_col/alice", "mötör/a", "c/a:b@c"])
def test_valid_ids_need_no_existing_collection(edges, value):
    """Numeric collection ids, system names and extended names are valid ids."""
    assert edges.insert({"_from": value, "_to": value})["_id"].startswith("knows/")


def test_replace_must_carry_from_and_to(edges):
    edges.insert({"_key": "e", "_from": "a/1", "_to": "a/2", "x": 1})
    with pytest.raises(DocumentReplaceError) as info:
        edges.replace({"_key": "e", "x": 2})
    assert_invalid_edge(info.value)
    edges.replace({"_key": "e", "_from": "b/1", "_to": "b/2"})
    assert edges.get("e")["_from"] == "b/1" and "x" not in edges.get("e")


def test_update_keeps_or_checks_from_and_to(edges):
    edges.insert({"_key": "e", "_from": "a/1", "_to": "a/2"})
    edges.update({"_key": "e", "x": 1})
    assert edges.get("e")["_from"] == "a/1" and edges.get("e")["_to"] == "a/2"
    edges.update({"_key": "e", "_to": "a/3"})
    assert edges.get("e")["_to"] == "a/3"
    with pytest.raises(DocumentUpdateError) as info:
        edges.update({"_key": "e", "_from": "nope"})
    assert_invalid_edge(info.value)
    assert edges.get("e")["_from"] == "a/1"


def test_overwrite_modes_check_edges(edges):
    edges.insert({"_key": "e", "_from": "a/1", "_to": "a/2"})
    with pytest.raises(DocumentInsertError) as info:
        edges.insert({"_key": "e", "_from": "a/1"}, overwrite_mode="replace")
    assert_invalid_edge(info.value)
    result = edges.insert({"_key": "e", "y": 1}, overwrite_mode="update")
    assert result["_old_rev"] != result["_rev"]
    assert edges.get("e")["_to"] == "a/2" and edges.get("e")["y"] == 1


def test_from_and_to_are_dropped_from_documents(arango_database):
    """A document collection keeps no ``_from``/``_to`` (they are system attributes)."""
    col = arango_database.create_collection("plain")
    col.insert({"_key": "d", "_from": "a/1", "_to": "a/2", "x": 1})
    assert col.get("d") == {"_key": "d", "_id": "plain/d", "_rev": col.get("d")["_rev"], "x": 1}


def test_batch_writes_report_1233_inline(arango_server, edges):
    results = edges.insert_many(
        [
            {"_key": "ok", "_from": "a/1", "_to": "a/2"},
            {"_key": "bad", "_from": "a/1"},
            {"_key": "ok2", "_from": "x/y", "_to": "x/z"},
        ]
    )
    assert [r["_key"] for r in results if isinstance(r, dict)] == ["ok", "ok2"]
    failed = results[1]
    assert isinstance(failed, DocumentInsertError) and failed.error_code == 1233
    replaced = edges.replace_many([{"_key": "ok", "x": 1}, {"_key": "ok2", "_from": "b/1", "_to": "b/2"}])
    assert replaced[0].error_code == 1233 and replaced[1]["_key"] == "ok2"
    updated = edges.update_many([{"_key": "ok", "_to": 5}, {"_key": "ok2", "z": 1}])
    assert updated[0].error_code == 1233 and updated[1]["_key"] == "ok2"
    assert edges.get_many(["ok", "ok2"])[1]["_from"] == "b/1"
    assert [r["_key"] for r in edges.delete_many(["ok", "ok2"])] == ["ok", "ok2"]


def test_batch_error_header_counts_1233(http, edges):
    body = [{"_from": "a/1"}, {"_from": "a/1", "_to": "a/2"}, {}]
    response = http.post(f"{http.base}/_api/document/knows", json=body)
    assert response.status_code == 202
    assert response.headers["X-Arango-Error-Codes"] == '{"1233":2}'
    body = response.json()
    assert body[0] == {"error": True, "errorNum": 1233, "errorMessage": "edge attribute missing or invalid"}
    assert body[1]["_id"].startswith("knows/")


def test_edge_index_is_listed_second(edges):
    edges.insert_many([{"_from": "a/1", "_to": "a/2"}, {"_from": "a/1", "_to": "a/3"}])
    indexes = edges.indexes()
    assert [i["type"] for i in indexes] == ["primary", "edge"]
    edge = indexes[1]
    assert edge["id"] == "2" and edge["name"] == "edge" and edge["fields"] == ["_from", "_to"]
    assert edge["unique"] is False and edge["sparse"] is False
    assert edge["selectivity"] == pytest.approx((1 / 2 + 2 / 2) / 2)
    assert edges.get_index("edge")["fields"] == ["_from", "_to"]


def test_edge_index_cannot_be_created_or_dropped(edges):
    with pytest.raises(IndexCreateError) as info:
        edges.add_index({"type": "edge", "fields": ["_from"]})
    assert info.value.http_code == 400
    with pytest.raises(IndexDeleteError) as info:
        edges.delete_index("2")
    assert info.value.http_code == 403 and info.value.error_code == 11


def test_other_indexes_on_edges(edges):
    index = edges.add_index({"type": "persistent", "fields": ["_from", "label"], "unique": True})
    assert int(index["id"]) > 2
    edges.insert({"_from": "a/1", "_to": "a/2", "label": "x"})
    with pytest.raises(DocumentInsertError) as info:
        edges.insert({"_from": "a/1", "_to": "a/9", "label": "x"})
    assert info.value.error_code == 1210


def test_edges_survive_a_restart(start_arango_server):
    server = start_arango_server(ttl_frequency=0)
    client = server.client()
    try:
        db = server.db(client)
        db.create_collection("e", edge=True).insert({"_key": "k", "_from": "a/1", "_to": "a/2"})
        server.restart()
        col = server.db(client).collection("e")
        assert col.properties()["edge"] is True and col.get("k")["_to"] == "a/2"
        assert [i["type"] for i in col.indexes()] == ["primary", "edge"]
        with pytest.raises(DocumentInsertError):
            col.insert({"_from": "a/1"})
    finally:
        client.close()


# -- /_api/edges ---------------------------------------------------------------


@pytest.fixture
def edges_api(http, edges):
    """GET/POST /_api/edges/{path} (python-arango reaches it only through graphs)."""
    edges.insert_many(
        [
            {"_key": "ab", "_from": "p/a", "_to": "p/b"},
            {"_key": "ba", "_from": "p/b", "_to": "p/a"},
            {"_key": "bc", "_from": "p/b", "_to": "p/c"},
            {"_key": "aa", "_from": "p/a", "_to": "p/a"},
        ]
    )
    return lambda path, method="GET", **kwargs: http.request(method, f"{http.base}/_api/edges/{path}", **kwargs)


@pytest.mark.parametrize(
    ("direction", "expected"),
    [(None, ["ab", "ba", "aa"]), ("any", ["ab", "ba", "aa"]), ("out", ["ab", "aa"]), ("inbound", ["ba", "aa"])],
)
def test_edges_of_a_vertex(edges_api, direction, expected):
    params = {"vertex": "p/a"} | ({"direction": direction} if direction else {})
    response = edges_api("knows", params=params)
    assert response.status_code == 200
    body = response.json()
    assert (body["error"], body["code"]) == (False, 200)
    assert [edge["_key"] for edge in body["edges"]] == expected
    assert body["stats"]["scannedIndex"] == len(expected) and body["stats"]["filtered"] == 0


def test_edges_of_several_vertices(edges_api):
    response = edges_api("knows?direction=out", method="POST", json=["p/a", "p/b"])
    assert response.status_code == 200
    assert sorted(edge["_key"] for edge in response.json()["edges"]) == ["aa", "ab", "ba", "bc"]


@pytest.mark.parametrize(
    ("path", "params", "status", "error_num", "message"),
    [
        (
            "knows",
            {"vertex": "p/a", "direction": "sideways"},
            400,
            400,
            "<direction> must by any, in, or out, not: sideways",
        ),
        ("knows", {}, 400, 1205, "illegal document handle"),
        ("people", {"vertex": "p/a"}, 400, 1218, "collection type invalid"),
        ("missing", {"vertex": "p/a"}, 404, 1203, None),
        (
            "knows/extra",
            {"vertex": "p/a"},
            400,
            400,
            "expected GET /_api/edges/<collection-identifier>?vertex=<vertex-id>&direction=<direction>",
        ),
    ],
)
def test_edges_refusals(arango_database, edges_api, path, params, status, error_num, message):
    arango_database.create_collection("people")
    response = edges_api(path, params=params)
    assert response.status_code == status
    error = response.json()
    assert (error["error"], error["code"], error["errorNum"]) == (True, status, error_num)
    if message is not None:
        assert error["errorMessage"] == message
