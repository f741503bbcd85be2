"""Fidelity of the ArangoDB test server: routing, auth, databases, collections, indexes.

Through real python-arango over HTTP (``requests`` where the driver cannot
express the request). Checklist rows of ``shared/docs/arangodb-http-subset.md``
§8 are named in the docstrings.
"""

from __future__ import annotations

import secrets

import jwt
import pytest
import requests
from arango.exceptions import (
    CollectionCreateError,
    CollectionDeleteError,
    CollectionListError,
    DatabaseCreateError,
    DatabaseDeleteError,
    DocumentGetError,
    IndexCreateError,
    IndexListError,
    JWTAuthError,
    ServerConnectionError,
)

# -- 1. routing --------------------------------------------------------------


def test_version_through_the_driver(arango_server, arango_client):
    assert arango_server.db(arango_client).version() == "3.12.6"
    details = arango_server.db(arango_client).version(details=True)
    assert details["server"] == "arango" and "details" in details


def test_bare_api_path_means_system(arango_server, arango_client):
    auth = (arango_server.username, arango_server.password)
    bare = requests.get(f"{arango_server.url}/_api/database", auth=auth, timeout=5)
    prefixed = requests.get(f"{arango_server.url}/_db/_system/_api/database", auth=auth, timeout=5)
    assert bare.status_code == prefixed.status_code == 200
    assert bare.json() == prefixed.json()


def test_percent_encoded_database_name(arango_server, arango_client, arango_database):
    auth = (arango_server.username, arango_server.password)
    encoded = "".join(f"%{byte:02X}" for byte in arango_database.name.encode())
    response = requests.get(f"{arango_server.url}/_db/{encoded}/_api/collection", auth=auth, timeout=5)
    assert response.status_code == 200


def test_unknown_path_is_404(arango_server):
    auth = (arango_server.username, arango_server.password)
    response = requests.get(f"{arango_server.url}/_api/nothing-here", auth=auth, timeout=5)
    assert response.status_code == 404 and response.json()["errorNum"] == 404


# -- 2. authentication ---------------------------------------------------------


def test_missing_credentials_are_401_11(arango_server):
    response = requests.get(f"{arango_server.url}/_api/collection", timeout=5)
    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "error": True,
        "errorMessage": "not authorized to execute this request",
        "errorNum": 11,
    }


def test_wrong_password_fails_verify(arango_server, arango_client):
    with pytest.raises(ServerConnectionError) as info:
        arango_client.db("_system", username=arango_server.username, password="wrong", verify=True)
    assert info.value.http_code == 401 and info.value.error_code == 11


def test_garbage_bearer_token_is_401_11(arango_server):
    headers = {"Authorization": "bearer not.a.token"}
    response = requests.get(f"{arango_server.url}/_api/collection", headers=headers, timeout=5)
    assert response.status_code == 401 and response.json()["errorNum"] == 11


def test_unknown_database_is_1228_for_root(arango_server, arango_client):
    db = arango_server.db(arango_client, "no_such_db")
    with pytest.raises(DocumentGetError) as info:
        db.collection("c").get("k")
    assert info.value.http_code == 404 and info.value.error_code == 1228
    with pytest.raises(CollectionListError) as info:
        db.has_collection("c")
    assert info.value.error_code == 1228


def test_database_users_get_only_their_database(arango_server, arango_client):
    sys_db = arango_server.db(arango_client)
    name = "users_" + secrets.token_hex(4)
    sys_db.create_database(name, users=[{"username": "alice", "password": "alice-pw"}])
    try:
        alice = arango_client.db(name, username="alice", password="alice-pw", verify=True)
        assert alice.create_collection("mine").insert({"_key": "a"})["_key"] == "a"
        with pytest.raises(DocumentGetError) as info:
            arango_client.db("no_such_db", username="alice", password="alice-pw").collection("c").get("k")
        assert info.value.http_code == 401 and info.value.error_code == 11
        with pytest.raises(ServerConnectionError):
            arango_client.db("_system", username="alice", password="alice-pw", verify=True)
    finally:
        sys_db.delete_database(name)


def test_jwt_login_and_token_use(arango_server, arango_client, arango_database):
    db = arango_client.db(
        arango_database.name, username=arango_server.username, password=arango_server.password, auth_method="jwt"
    )
    assert db.create_collection("via_jwt").insert({"_key": "a"})["_key"] == "a"
    token = db.conn._token
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == "arangodb" and payload["preferred_username"] == arango_server.username
    assert payload["iat"] <= payload["exp"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    response = requests.get(
        f"{arango_server.url}/_db/{arango_database.name}/_api/collection",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 200


def test_jwt_wrong_password_is_401(arango_server, arango_client):
    with pytest.raises(JWTAuthError) as info:
        arango_client.db("_system", username=arango_server.username, password="wrong", auth_method="jwt")
    assert info.value.http_code == 401 and info.value.error_code == 401


def test_jwt_login_rejects_malformed_body_and_get(arango_server):
    url = f"{arango_server.url}/_open/auth"
    assert requests.post(url, data=b"{nope", timeout=5).status_code == 400
    assert requests.get(url, timeout=5).status_code == 405


def test_forged_token_signature_is_rejected(arango_server, arango_client):
    forged = jwt.encode(
        {"preferred_username": arango_server.username, "iss": "arangodb", "iat": 0, "exp": 2**31},
        "not-the-server-secret-but-32-bytes-long",
        algorithm="HS256",
    )
    response = requests.get(
        f"{arango_server.url}/_api/collection", headers={"Authorization": f"bearer {forged}"}, timeout=5
    )
    assert response.status_code == 401


def test_server_without_credentials_accepts_everything(start_arango_server):
    server = start_arango_server(auth=False, state_file=False)
    client = server.client()
    try:
        db = client.db("_system", username="anyone", password="anything", verify=True)
        assert db.create_collection("open").insert({"_key": "a"})["_key"] == "a"
        assert requests.get(f"{server.url}/_api/collection/open/count", timeout=5).json()["count"] == 1
        # ArangoDB 3.12.6+ with authentication off answers logins with this.
        assert requests.post(f"{server.url}/_open/auth", json={"username": "x"}, timeout=5).json() == {"jwt": "invalid"}
    finally:
        client.close()


# -- databases -----------------------------------------------------------------


def test_database_lifecycle(arango_server, arango_client):
    sys_db = arango_server.db(arango_client)
    name = "life_" + secrets.token_hex(4)
    assert sys_db.has_database(name) is False
    assert sys_db.create_database(name) is True
    assert sys_db.has_database(name) and name in sys_db.databases()
    with pytest.raises(DatabaseCreateError) as info:
        sys_db.create_database(name)
    assert info.value.http_code == 409 and info.value.error_code == 1207
    assert sys_db.delete_database(name) is True
    assert sys_db.delete_database(name, ignore_missing=True) is False
    with pytest.raises(DatabaseDeleteError) as info:
        sys_db.delete_database(name)
    assert info.value.error_code == 1228


@pytest.mark.parametrize(
    "name", ["1starts-with-digit", "x" * 129, "_system2", "a/b", "a:b", " lead", "trail ", ".dot", "tab\there"]
)
def test_invalid_database_names(arango_server, arango_client, name):
    """3.12's extended names (``--database.extended-names`` is on by default) still refuse these."""
    with pytest.raises(DatabaseCreateError) as info:
        arango_server.db(arango_client).create_database(name)
    assert info.value.http_code == 400 and info.value.error_code == 1229


@pytest.mark.parametrize("name", ["has space", "x" * 128, "mötör", "😀 🍺", "a.b(c)"])
def test_extended_database_names_are_accepted(arango_server, arango_client, name):
    sys_db = arango_server.db(arango_client)
    assert sys_db.create_database(name) is True
    try:
        assert name in sys_db.databases()
        col = arango_server.db(arango_client, name).create_collection("c")
        assert col.insert({"_key": "k"})["_id"] == "c/k"
    finally:
        sys_db.delete_database(name)


def test_traditional_names_when_extended_names_are_off(start_arango_server):
    """``--no-extended-names`` (``--database.extended-names false``): ``[A-Za-z][A-Za-z0-9_-]*`` only."""
    server = start_arango_server(extended_names=False, ttl_frequency=0)
    client = server.client()
    try:
        sys_db = server.db(client)
        for name in ("has space", "x" * 65, "mötör"):
            with pytest.raises(DatabaseCreateError) as info:
                sys_db.create_database(name)
            assert info.value.error_code == 1229
        assert sys_db.create_database("x" * 64) is True
        for name in ("has space", "mötör"):
            with pytest.raises(CollectionCreateError) as info:
                sys_db.create_collection(name)
            assert info.value.http_code == 400 and info.value.error_code == 1208
    finally:
        client.close()


def test_database_admin_only_from_system(arango_database):
    with pytest.raises(DatabaseCreateError) as info:
        arango_database.create_database("elsewhere")
    assert info.value.http_code == 403 and info.value.error_code == 1230


def test_database_properties(arango_database):
    assert arango_database.properties()["name"] == arango_database.name


# -- collections -------------------------------------------------------------


def test_collection_lifecycle(arango_database):
    assert arango_database.has_collection("sessions") is False
    col = arango_database.create_collection("sessions")
    assert arango_database.has_collection("sessions") is True
    names = {c["name"]: c for c in arango_database.collections()}
    assert names["sessions"]["system"] is False and names["_graphs"]["system"] is True
    col.insert_many([{}, {}])
    assert col.count() == 2 and len(col) == 2
    properties = col.properties()
    assert properties["name"] == "sessions" and properties["key_options"]["key_generator"] == "traditional"
    col.truncate()
    assert col.count() == 0
    assert arango_database.delete_collection("sessions") is True
    assert arango_database.delete_collection("sessions", ignore_missing=True) is False
    with pytest.raises(CollectionDeleteError) as info:
        arango_database.delete_collection("sessions")
    assert info.value.http_code == 404 and info.value.error_code == 1203


def test_duplicate_and_illegal_collection_names(arango_database):
    arango_database.create_collection("taken")
    with pytest.raises(CollectionCreateError) as info:
        arango_database.create_collection("taken")
    assert info.value.http_code == 409 and info.value.error_code == 1207
    for name in ("1digit", "_system_like", "x" * 257, "a/b", " lead", "trail ", ".dot", "tab\there"):
        with pytest.raises(CollectionCreateError) as info:
            arango_database.create_collection(name)
        assert info.value.http_code == 400 and info.value.error_code == 1208
        assert info.value.error_message == "illegal name: collection name invalid"


def test_key_generators(arango_database):
    padded = arango_database.create_collection("padded", key_generator="padded")
    keys = [padded.insert({})["_key"] for _ in range(3)]
    assert keys == sorted(keys) and len(keys[0]) == 16
    auto = arango_database.create_collection("auto", key_generator="autoincrement", key_increment=5, key_offset=10)
    assert [auto.insert({})["_key"] for _ in range(2)] == ["10", "15"]
    uuids = arango_database.create_collection("uuids", key_generator="uuid")
    assert len(uuids.insert({})["_key"]) == 36


# -- 7. indexes ----------------------------------------------------------------

TTL = {"type": "ttl", "fields": ["expires_at"], "expireAfter": 0}


def test_ttl_index_created_then_identical(arango_database):
    """201 new / 200 identical; ``add_index`` pops code and error, so both must be there."""
    col = arango_database.create_collection("sessions")
    created = col.add_index(dict(TTL))
    assert created["isNewlyCreated"] is True
    assert created["type"] == "ttl" and created["sparse"] is True and created["unique"] is False
    assert created["expireAfter"] == 0 and "/" not in created["id"]
    again = col.add_index(dict(TTL))
    assert again["isNewlyCreated"] is False and again["id"] == created["id"]


def test_index_status_codes(arango_server, arango_database):
    arango_database.create_collection("sessions")
    url = f"{arango_server.url}/_db/{arango_database.name}/_api/index"
    auth = (arango_server.username, arango_server.password)
    first = requests.post(url, params={"collection": "sessions"}, json=TTL, auth=auth, timeout=5)
    second = requests.post(url, params={"collection": "sessions"}, json=TTL, auth=auth, timeout=5)
    assert (first.status_code, first.json()["code"], first.json()["error"]) == (201, 201, False)
    assert (second.status_code, second.json()["code"]) == (200, 200)
    assert first.json()["id"] == "sessions/" + first.json()["id"].split("/")[1]


def test_second_different_ttl_index_is_400_10(arango_database):
    col = arango_database.create_collection("sessions")
    col.add_index(dict(TTL))
    with pytest.raises(IndexCreateError) as info:
        col.add_index({"type": "ttl", "fields": ["other"], "expireAfter": 0})
    assert info.value.http_code == 400 and info.value.error_code == 10
    with pytest.raises(IndexCreateError):
        col.add_index({**TTL, "expireAfter": 60})


@pytest.mark.parametrize(
    "definition",
    [
        {"type": "ttl", "fields": ["a", "b"], "expireAfter": 0},
        {"type": "ttl", "fields": ["a"]},
        {"type": "ttl", "fields": ["a"], "expireAfter": -1},
        {"type": "persistent", "fields": []},
        {"type": "geo", "fields": ["loc"]},
        {"type": "nonsense", "fields": ["a"]},
    ],
    ids=lambda d: f"{d['type']}-{d.get('fields')}-{d.get('expireAfter')}",
)
def test_invalid_index_definitions(arango_database, definition):
    col = arango_database.create_collection("sessions")
    with pytest.raises(IndexCreateError) as info:
        col.add_index(definition)
    assert info.value.http_code == 400


def test_persistent_index_named_and_sparse(arango_database):
    col = arango_database.create_collection("sessions")
    definition = {"type": "persistent", "fields": ["uid"], "sparse": True, "name": "realtime_uid"}
    created = col.add_index(dict(definition))
    assert created["isNewlyCreated"] is True and created["name"] == "realtime_uid"
    assert created["sparse"] is True and created["unique"] is False
    assert col.add_index(dict(definition))["isNewlyCreated"] is False
    with pytest.raises(IndexCreateError):
        col.add_index({"type": "persistent", "fields": ["other"], "name": "realtime_uid"})


def test_unique_persistent_index_is_enforced(arango_database):
    from arango.exceptions import DocumentInsertError

    col = arango_database.create_collection("users")
    col.add_index({"type": "persistent", "fields": ["email"], "unique": True, "sparse": True})
    col.insert({"email": "a@example.org"})
    col.insert({"name": "no email, sparse"})
    col.insert({"name": "no email either"})
    with pytest.raises(DocumentInsertError) as info:
        col.insert({"email": "a@example.org"})
    assert info.value.http_code == 409 and info.value.error_code == 1210


def test_index_list_has_primary_first(arango_database):
    col = arango_database.create_collection("sessions")
    col.add_index(dict(TTL))
    col.add_index({"type": "persistent", "fields": ["uid"]})
    indexes = col.indexes()
    assert [i["type"] for i in indexes] == ["primary", "ttl", "persistent"]
    primary = indexes[0]
    assert primary["fields"] == ["_key"] and primary["unique"] is True and primary["sparse"] is False
    assert primary["selectivity"] == 1
    assert all({"id", "type", "fields", "sparse", "unique"} <= set(i) for i in indexes)


def test_add_ttl_index_legacy_formatter(arango_database):
    col = arango_database.create_collection("sessions")
    with pytest.warns(DeprecationWarning):
        result = col.add_ttl_index(["expires_at"], expiry_time=0)
    assert result["new"] is True and result["expiry_time"] == 0


def test_index_get_and_delete(arango_database):
    col = arango_database.create_collection("sessions")
    created = col.add_index(dict(TTL))
    assert col.get_index(created["id"])["type"] == "ttl"
    assert col.delete_index(created["id"]) is True
    assert col.delete_index(created["id"], ignore_missing=True) is False
    assert [i["type"] for i in col.indexes()] == ["primary"]


def test_index_calls_on_missing_collection_are_1203(arango_database):
    missing = arango_database.collection("nope")
    with pytest.raises(IndexListError) as info:
        missing.indexes()
    assert info.value.error_code == 1203
    with pytest.raises(IndexCreateError) as info:
        missing.add_index(dict(TTL))
    assert info.value.http_code == 404 and info.value.error_code == 1203
