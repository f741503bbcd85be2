"""Fidelity of the ArangoDB test server: ``POST /_api/import`` (``RestImportHandler``, 3.12).

python-arango's ``import_bulk`` sends ``type=array`` with ``complete`` and
``details`` (both true by default); the other body formats (JSON Lines,
``auto``, the tabular format without ``type``) go through ``requests``. The
answer is 201 ``{error, created, errors, empty, updated, ignored[, details]}``
(no ``code``); ``complete=true`` turns the first failing document into the
import's error, with nothing of the import kept.
"""

from __future__ import annotations

import json

import pytest
import requests
from arango.exceptions import DocumentInsertError

COUNTS = ("created", "errors", "empty", "updated", "ignored")


@pytest.fixture
def col(arango_database):
    return arango_database.create_collection("people")


@pytest.fixture
def edges(arango_database):
    return arango_database.create_collection("knows", edge=True)


@pytest.fixture
def post_import(http):
    """POST a raw body to /_api/import; returns the ``requests`` response."""

    def post(body: str | bytes, method: str = "POST", **params: str) -> requests.Response:
        return http.request(method, f"{http.base}/_api/import", params=params, data=body, timeout=10)

    return post


def counts(result):
    return tuple(result[name] for name in COUNTS)


def keys(col):
    return sorted(doc["_key"] for doc in col.get_many([str(n) for n in range(20)] + list("abcdefgh")))


# -- python-arango: import_bulk (type=array) ------------------------------------


def test_import_bulk_counts_and_stores(col):
    result = col.import_bulk([{"_key": "a", "n": 1}, {"_key": "b"}, {"n": 3}])
    assert counts(result) == (3, 0, 0, 0, 0) and result["details"] == [] and result["error"] is False
    assert col.count() == 3 and col.get("a")["n"] == 1


def test_import_bulk_takes_the_key_from_an_id(col):
    col.import_bulk([{"_id": "people/x", "v": 1}])
    assert col.get("x")["v"] == 1


def test_duplicate_with_complete_aborts_everything(col):
    col.insert({"_key": "a", "old": True})
    with pytest.raises(DocumentInsertError) as info:
        col.import_bulk([{"_key": "new1"}, {"_key": "a"}, {"_key": "new2"}])
    assert (info.value.http_code, info.value.error_code) == (409, 1210)
    assert info.value.error_message == "unique constraint violated"
    assert col.count() == 1 and col.get("a")["old"] is True


def test_duplicate_without_complete_is_counted_with_details(col):
    col.insert({"_key": "a"})
    result = col.import_bulk([{"_key": "new1"}, {"_key": "a", "x": 1}, {"_key": "new2"}], halt_on_error=False)
    assert counts(result) == (2, 1, 0, 0, 0)
    assert result["details"] == [
        "at position 1: creating document failed with error 'unique constraint violated',"
        ' offending document: {"_key":"a","x":1}'
    ]
    assert col.count() == 3


@pytest.mark.parametrize(
    ("on_duplicate", "expected", "stored"),
    [
        ("error", (1, 1, 0, 0, 0), {"old": 1}),
        ("update", (1, 0, 0, 1, 0), {"old": 1, "new": 2}),
        ("replace", (1, 0, 0, 1, 0), {"new": 2}),
        ("ignore", (1, 0, 0, 0, 1), {"old": 1}),
    ],
)
def test_on_duplicate(col, on_duplicate, expected, stored):
    col.insert({"_key": "a", "old": 1})
    result = col.import_bulk(
        [{"_key": "a", "new": 2}, {"_key": "b"}], on_duplicate=on_duplicate, halt_on_error=False, details=False
    )
    assert counts(result) == expected and "details" not in result
    document = col.get("a")
    assert {k: v for k, v in document.items() if not k.startswith("_")} == stored


def test_overwrite_truncates_first(col):
    col.insert_many([{"_key": "old1"}, {"_key": "old2"}])
    index = col.add_index({"type": "persistent", "fields": ["n"]})
    result = col.import_bulk([{"_key": "a", "n": 1}], overwrite=True)
    assert counts(result) == (1, 0, 0, 0, 0)
    assert col.count() == 1 and any(i["id"] == index["id"] for i in col.indexes())


def test_overwrite_is_undone_when_a_complete_import_fails(col):
    col.insert({"_key": "keep"})
    with pytest.raises(DocumentInsertError) as info:
        col.import_bulk([{"_key": "a"}, {"_key": "bad key"}], overwrite=True)
    assert (info.value.http_code, info.value.error_code) == (400, 1221)
    assert col.count() == 1 and col.has("keep")


def test_invalid_documents_in_an_array(post_import, col):
    """Not objects: counted (the driver cannot send them, hence ``requests``); with ``complete``, 400/1227."""
    body = json.dumps([{"_key": "a"}, [1, 2], "text", {"_key": "bad key"}])
    result = post_import(body, collection="people", type="array", details="true").json()
    assert counts(result) == (1, 3, 0, 0, 0)
    assert result["details"][:2] == [
        "at position 2: invalid JSON type (expecting object), offending document: [1,2]",
        'at position 3: invalid JSON type (expecting object), offending document: "text"',
    ]
    assert result["details"][2].startswith("at position 1: creating document failed with error 'illegal document key'")
    response = post_import(json.dumps([{"_key": "b"}, 5]), collection="people", type="array", complete="true")
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error": True, "errorMessage": "invalid document type", "errorNum": 1227}
    assert not col.has("b")


def test_import_into_missing_collection_is_404_1203(arango_database):
    with pytest.raises(DocumentInsertError) as info:
        arango_database.collection("missing").import_bulk([{}])
    assert (info.value.http_code, info.value.error_code) == (404, 1203)


def test_batched_import_bulk(col):
    results = col.import_bulk([{"_key": str(n)} for n in range(5)], batch_size=2)
    assert [r["created"] for r in results] == [2, 2, 1] and col.count() == 5


# -- edges -------------------------------------------------------------------


def test_edges_need_from_and_to(edges):
    result = edges.import_bulk(
        [{"_from": "p/a", "_to": "p/b"}, {"_from": "p/a"}, {"_from": "p/a", "_to": "nope"}], halt_on_error=False
    )
    assert counts(result) == (1, 2, 0, 0, 0)
    assert result["details"][0] == (
        "at position 2: missing '_from' or '_to' attribute, offending document: {\"_from\":\"p/a\"}"
    )
    assert result["details"][1].startswith(
        "at position 1: creating document failed with error 'edge attribute missing or invalid'"
    )
    with pytest.raises(DocumentInsertError) as info:
        edges.import_bulk([{"_from": "p/a", "_to": "p/b"}, {"_to": "p/b"}])
    assert (info.value.http_code, info.value.error_code) == (400, 1233)
    assert edges.count() == 1


def test_from_and_to_prefixes(edges):
    result = edges.import_bulk(
        [{"_key": "e1", "_from": "a", "_to": 7}, {"_key": "e2", "_from": "other/b", "_to": "c"}],
        from_prefix="people",
        to_prefix="places/",
    )
    assert counts(result) == (2, 0, 0, 0, 0)
    assert (edges.get("e1")["_from"], edges.get("e1")["_to"]) == ("people/a", "places/7")
    assert (edges.get("e2")["_from"], edges.get("e2")["_to"]) == ("other/b", "places/c")


def test_overwrite_collection_prefix(post_import, edges):
    body = json.dumps([{"_key": "e", "_from": "other/b", "_to": "x/c"}])
    response = post_import(
        body, collection="knows", type="list", fromPrefix="people", toPrefix="places", overwriteCollectionPrefix="true"
    )
    assert response.status_code == 201
    assert (edges.get("e")["_from"], edges.get("e")["_to"]) == ("people/b", "places/c")


def test_prefixes_do_nothing_on_document_collections(col):
    col.import_bulk([{"_key": "d", "_from": "a"}], from_prefix="people")
    assert "_from" not in col.get("d")


# -- other body formats (requests) -------------------------------------------


def test_json_lines(post_import, col):
    body = '{"_key":"a"}\n\n   \n{"_key":"b"}\r\nnot json\n[1]\n{"_key":"c"}\n'
    response = post_import(body, collection="people", type="documents", details="true")
    assert response.status_code == 201
    result = response.json()
    assert result == {
        "error": False,
        "created": 3,
        "errors": 2,
        "empty": 2,
        "updated": 0,
        "ignored": 0,
        "details": [
            "at position 5: invalid JSON type (expecting object, probably parse error), offending context: not json",
            "at position 6: invalid JSON type (expecting object), offending document: [1]",
        ],
    }
    assert keys(col) == ["a", "b", "c"]


def test_json_lines_parse_error_with_complete_stops_reading(post_import, col):
    """``RestImportHandler``: an unparsable line ends the reading; what came before is imported."""
    response = post_import('{"_key":"a"}\n{oops\n{"_key":"b"}', collection="people", type="documents", complete="true")
    assert response.status_code == 201
    assert counts(response.json()) == (1, 1, 0, 0, 0) and keys(col) == ["a"]


@pytest.mark.parametrize(
    ("body", "created"),
    [('  \n [{"_key":"a"},{"_key":"b"}]', 2), ('{"_key":"a"}\n{"_key":"b"}\n{"_key":"c"}', 3)],
)
def test_auto_detects_array_or_lines(post_import, col, body, created):
    response = post_import(body, collection="people", type="auto")
    assert response.status_code == 201 and response.json()["created"] == created


def test_tabular_format(post_import, col):
    body = '["_key","name","age"]\n["a","Ann",30]\n\n["b",null,41]\n["c","short"]\n[1,2,3,4]\n{"x":1}\n'
    response = post_import(body, collection="people", details="true", line="10")
    assert response.status_code == 201
    result = response.json()
    assert counts(result) == (2, 3, 1, 0, 0)
    assert result["details"] == [
        "at position 14: wrong number of JSON values (got 2, expected 3)",
        "at position 15: wrong number of JSON values (got 4, expected 3)",
        "at position 16: no valid JSON array data",
    ]
    assert col.get("a") == {**col.get("a"), "name": "Ann", "age": 30}
    assert "name" not in col.get("b")


def test_tabular_ignore_missing(post_import, col):
    body = '["_key","name","age"]\n["a","Ann"]\n["b","Bo",2,"extra"]'
    response = post_import(body, collection="people", ignoreMissing="true")
    assert counts(response.json()) == (2, 0, 0, 0, 0)
    assert "age" not in col.get("a") and col.get("b")["age"] == 2


def test_tabular_complete_failure_is_500_4(post_import, col):
    response = post_import('["_key"]\n["a"]\n"x"', collection="people", complete="true")
    assert response.status_code == 500 and response.json()["errorNum"] == 4
    assert col.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('["_key"]', "no JSON array found in second line"),
        ('{"_key":1}\n[1]', "no JSON string array found in first line"),
        ("[]\n[1]", "no JSON string array found in first line"),
        ("[1]\n[1]", "no JSON string array found in first line"),
    ],
)
def test_tabular_header_errors(post_import, col, body, message):
    response = post_import(body, collection="people")
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error": True, "errorMessage": message, "errorNum": 400}


@pytest.mark.parametrize(
    ("params", "body", "status", "error_num", "message"),
    [
        ({"type": "list"}, "[]", 400, 1204, "'collection' is missing, expecting /_api/import?collection=<identifier>"),
        ({"type": "list", "collection": "people"}, '{"a":1}', 400, 400, "expecting a JSON array in the request"),
        ({"type": "list", "collection": "nope"}, "[]", 404, 1203, None),
    ],
)
def test_request_errors(post_import, col, params, body, status, error_num, message):
    response = post_import(body, **params)
    assert response.status_code == status
    error = response.json()
    assert (error["error"], error["code"], error["errorNum"]) == (True, status, error_num)
    if message is not None:
        assert error["errorMessage"] == message


def test_only_post_is_allowed(post_import, col):
    response = post_import("", method="PUT", collection="people", type="list")
    assert response.status_code == 501
    assert response.json()["errorNum"] == 9 and response.json()["errorMessage"] == "ILLEGAL /_api/import"


def test_unparsable_array_body(post_import, col):
    response = post_import("[{", collection="people", type="array")
    assert response.status_code == 400 and response.json()["errorNum"] == 400
    assert response.json()["errorMessage"].startswith("expecting a valid JSON array in the request. got: ")
