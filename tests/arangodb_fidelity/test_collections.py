"""Fidelity of the ArangoDB test server: collection properties, rename, extended names.

``PUT /_api/collection/{c}/properties`` changes ``waitForSync``, ``schema``
(stored and returned as ``{message, level, type: "json", rule}``; invalid
descriptions 400/1621) and ``cacheEnabled``; ``PUT .../rename`` renames
(documents get the new ``_id``; 409/1207, 400/1208, 403/11 for system
collections). Names follow 3.12's extended convention (on by default).
"""

from __future__ import annotations

import pytest
from arango.exceptions import CollectionConfigureError, CollectionCreateError, CollectionRenameError, DocumentGetError

RULE = {"properties": {"n": {"type": "number"}}, "required": ["n"]}


@pytest.fixture
def col(arango_database):
    return arango_database.create_collection("people")


@pytest.fixture
def put(http):
    """PUT a JSON body to /_api/collection/{path}."""
    return lambda path, body: http.put(f"{http.base}/_api/collection/{path}", json=body)


def test_configure_wait_for_sync(http, col):
    assert col.properties()["sync"] is False
    assert col.configure(sync=True)["sync"] is True
    assert col.properties()["sync"] is True
    assert http.post(f"{http.base}/_api/document/people", json={}).status_code == 201


def test_schema_is_stored_and_returned(col):
    assert col.properties()["schema"] is None
    configured = col.configure(schema={"rule": RULE, "level": "moderate", "message": "n must be a number"})
    expected = {"rule": RULE, "level": "moderate", "message": "n must be a number", "type": "json"}
    assert configured["schema"] == expected and col.properties()["schema"] == expected
    col.configure(schema={"rule": RULE})
    assert col.properties()["schema"] == {"rule": RULE, "level": "strict", "message": "", "type": "json"}


def test_schema_at_creation_and_removal(arango_database, put):
    col = arango_database.create_collection("checked", schema={"rule": RULE, "level": "new"})
    assert col.properties()["schema"]["level"] == "new"
    response = put("checked/properties", {"schema": None})
    assert response.status_code == 200 and response.json()["schema"] is None
    put("checked/properties", {"schema": {"rule": RULE}})
    assert put("checked/properties", {"schema": {}}).json()["schema"] is None


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("text", "Schema description is not an object."),
        (
            {"level": "strict"},
            'Error when building schema: No valid schema in rule attribute given (no object): {"level":"strict"}',
        ),
        (
            {"rule": RULE, "level": "sometimes"},
            "Error when building schema: Valid validation levels are: none, new, moderate, strict",
        ),
    ],
)
def test_invalid_schema_is_400_1621(col, put, schema, message):
    response = put("people/properties", {"schema": schema})
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error": True, "errorMessage": message, "errorNum": 1621}
    assert col.properties()["schema"] is None


def test_invalid_schema_through_the_driver(arango_database, col):
    with pytest.raises(CollectionConfigureError) as info:
        col.configure(schema={"rule": 5})
    assert (info.value.http_code, info.value.error_code) == (400, 1621)
    with pytest.raises(CollectionCreateError) as info:
        arango_database.create_collection("bad_schema", schema={"rule": RULE, "level": "x"})
    assert (info.value.http_code, info.value.error_code) == (400, 1621)
    assert not arango_database.has_collection("bad_schema")


def test_cache_enabled(http, arango_database, col, put):
    assert col.properties()["cache"] is False
    assert put("people/properties", {"cacheEnabled": True}).json()["cacheEnabled"] is True
    assert col.properties()["cache"] is True
    # The driver's create_collection has no cacheEnabled; the HTTP API has.
    http.post(f"{http.base}/_api/collection", json={"name": "cached", "cacheEnabled": True}).raise_for_status()
    assert arango_database.collection("cached").properties()["cache"] is True


def test_fixed_properties_are_ignored(col, put):
    """keyOptions and type are set at creation; a single server ignores replicationFactor/writeConcern."""
    before = col.properties()
    response = put("people/properties", {"keyOptions": {"type": "uuid"}, "type": 3, "replicationFactor": 3})
    assert response.status_code == 200
    assert col.properties() == before


def test_properties_of_missing_collection(arango_database, put):
    response = put("missing/properties", {"waitForSync": True})
    assert response.status_code == 404 and response.json()["errorNum"] == 1203


def test_rename(arango_database, col):
    col.insert({"_key": "a", "n": 1})
    edges = arango_database.create_collection("knows", edge=True)
    edges.insert({"_key": "e", "_from": "people/a", "_to": "people/a"})
    assert col.rename("persons") is True and col.name == "persons"
    assert not arango_database.has_collection("people") and arango_database.has_collection("persons")
    assert col.get("a")["_id"] == "persons/a"
    assert col.get("a") == arango_database.collection("persons").get("a")
    assert edges.get("e")["_from"] == "people/a"
    with pytest.raises(DocumentGetError) as info:
        arango_database.collection("people").get("a")
    assert info.value.error_code == 1203
    assert col.rename("persons") is True


def test_rename_refusals(arango_database, col):
    arango_database.create_collection("taken")
    cases = [
        ("taken", 409, 1207, "duplicate name"),
        ("1digit", 400, 1208, "illegal name: collection name invalid"),
        ("a/b", 400, 1208, "illegal name: collection name invalid"),
        ("_sys", 400, 1208, "a system collection shall not be renamed to a non-system collection name or vice versa"),
        ("", 400, 10, "<name> must be non-empty"),
    ]
    for new_name, status, error_num, message in cases:
        with pytest.raises(CollectionRenameError) as info:
            col.rename(new_name)
        assert (info.value.http_code, info.value.error_code, info.value.error_message) == (status, error_num, message)
    with pytest.raises(CollectionRenameError) as info:
        arango_database.collection("_graphs").rename("_graphs2")
    assert (info.value.http_code, info.value.error_code) == (403, 11)
    with pytest.raises(CollectionRenameError) as info:
        arango_database.collection("missing").rename("other")
    assert (info.value.http_code, info.value.error_code) == (404, 1203)
    assert arango_database.has_collection("people")


def test_extended_collection_names(arango_database):
    for name in ("has space", "mötör", "a.b", "名前", "x" * 256):
        col = arango_database.create_collection(name)
        assert col.insert({"_key": "k"})["_id"] == f"{name}/k"
        assert col.get("k")["_key"] == "k"
    listed = {c["name"] for c in arango_database.collections()}
    assert {"has space", "mötör", "名前"} <= listed


def test_non_nfc_collection_name_is_refused(arango_database):
    decomposed = "mo\u0308to\u0308r"
    with pytest.raises(CollectionCreateError) as info:
        arango_database.create_collection(decomposed)
    assert (info.value.http_code, info.value.error_code) == (400, 1208)
    assert info.value.error_message == "collection name is not properly UTF-8 NFC-normalized"


def test_properties_survive_a_restart(start_arango_server):
    server = start_arango_server(ttl_frequency=0)
    client = server.client()
    try:
        db = server.db(client)
        db.create_collection("c", schema={"rule": RULE}, sync=True).rename("d")
        server.restart()
        properties = server.db(client).collection("d").properties()
        assert properties["schema"]["rule"] == RULE and properties["sync"] is True
    finally:
        client.close()


def test_location_header_of_an_extended_name_is_url_encoded(http, arango_database):
    """Header values are Latin-1: the server once dropped the connection here (and the driver retried the write)."""
    arango_database.create_collection("名前")
    response = http.post(f"{http.base}/_api/document/名前", json={"_key": "k"})
    assert response.status_code == 202
    assert response.headers["Location"] == f"/_db/{arango_database.name}/_api/document/%E5%90%8D%E5%89%8D/k"


@pytest.mark.parametrize("body", [["c"], {"type": 2}, {"name": 5}, {"name": None}])
def test_unreadable_create_body_is_plain_1208(http, body):
    """``CreateCollectionBody``: a body or name inspection cannot read is 1208 with the default text."""
    response = http.post(f"{http.base}/_api/collection", json=body)
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error": True, "errorMessage": "illegal name", "errorNum": 1208}


@pytest.mark.parametrize(
    ("extra", "edge"),
    [({"type": "edge"}, True), ({"type": 3.0}, True), ({"type": 7}, False), ({"type": "x"}, False)],
)
def test_create_type_as_the_compatibility_pass_reads_it(http, arango_database, extra, edge):
    """3.11 compatibility (kept in 3.12): only 3 or "edge" make an edge collection; the rest a document one."""
    body = {"name": "c", "waitForSync": "yes", "keyOptions": "padded", **extra}
    response = http.post(f"{http.base}/_api/collection", json=body)
    assert response.status_code == 200
    properties = arango_database.collection("c").properties()
    assert properties["edge"] is edge and properties["sync"] is False
    assert properties["key_options"]["key_generator"] == "traditional"
