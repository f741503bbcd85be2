"""Fidelity of the ArangoDB test server: documents, keys, revisions, batches.

Every test goes through real python-arango over HTTP to the server
subprocess (``arango_server``); a few use ``requests`` where the driver hides
what is checked (status codes, headers, HEAD bodies). Checklist rows of
``shared/docs/arangodb-http-subset.md`` §8 are named in the docstrings.
"""

from __future__ import annotations

import pytest
from arango.exceptions import (
    DocumentDeleteError,
    DocumentGetError,
    DocumentInError,
    DocumentInsertError,
    DocumentReplaceError,
    DocumentRevisionError,
    DocumentUpdateError,
)

SYSTEM_ATTRIBUTES = {"_id", "_key", "_rev"}


@pytest.fixture
def col(arango_database):
    return arango_database.create_collection("sessions")


# -- 3. write responses ------------------------------------------------------


def test_insert_returns_exactly_id_key_rev(col):
    result = col.insert({"_key": "a", "uid": "u1"})
    assert set(result) == SYSTEM_ATTRIBUTES
    assert result["_id"] == "sessions/a" and result["_key"] == "a"
    assert isinstance(result["_rev"], str)
    assert col.get("a") == {**result, "uid": "u1"}


def test_insert_ignores_body_id_and_rev(col):
    result = col.insert({"_key": "a", "_rev": "made-up", "_id": "sessions/a", "x": 1})
    stored = col.get("a")
    assert stored["_rev"] == result["_rev"] != "made-up"
    assert stored["x"] == 1


def test_generated_keys_are_unique_strings(col):
    keys = [col.insert({"n": n})["_key"] for n in range(5)]
    assert len(set(keys)) == 5 and all(isinstance(k, str) for k in keys)


def test_generated_keys_skip_numeric_user_keys(col):
    col.insert({"_key": "1000"})
    assert col.insert({})["_key"] != "1000"
    assert col.count() == 2


def test_every_write_gets_a_new_rev(col):
    revs = [col.insert({"_key": "a", "v": 0})["_rev"]]
    revs.append(col.update({"_key": "a", "v": 1})["_rev"])
    revs.append(col.replace({"_key": "a", "v": 2})["_rev"])
    revs.append(col.insert({"_key": "a", "v": 3}, overwrite_mode="replace")["_rev"])
    assert len(set(revs)) == 4


def test_update_and_replace_report_old_rev(col):
    """update() pops ``_oldRev`` unconditionally: the server must send it."""
    first = col.insert({"_key": "a"})
    updated = col.update({"_key": "a", "x": 1})
    assert set(updated) == SYSTEM_ATTRIBUTES | {"_old_rev"}
    assert updated["_old_rev"] == first["_rev"]
    replaced = col.replace({"_key": "a", "y": 2})
    assert replaced["_old_rev"] == updated["_rev"]


def test_silent_writes_return_true(col):
    assert col.insert({"_key": "a"}, silent=True) is True
    assert col.update({"_key": "a", "x": 1}, silent=True) is True
    assert col.replace({"_key": "a", "x": 2}, silent=True) is True
    assert col.delete("a", silent=True) is True
    assert col.count() == 0


def test_return_new_and_old(col):
    col.insert({"_key": "a", "x": 1})
    result = col.update({"_key": "a", "x": 2}, return_new=True, return_old=True)
    assert result["old"]["x"] == 1 and result["new"]["x"] == 2
    assert result["new"]["_rev"] == result["_rev"]
    deleted = col.delete("a", return_old=True)
    assert deleted["old"]["x"] == 2


def test_write_status_codes(http, col):
    """202 without sync, 201 with waitForSync; deletes 202/200."""
    url = f"{http.base}/_api/document/sessions"
    assert http.post(url, json={"_key": "a"}).status_code == 202
    assert http.post(url, params={"waitForSync": "1"}, json={"_key": "b"}).status_code == 201
    assert http.patch(f"{url}/a", json={"x": 1}).status_code == 202
    assert http.put(f"{url}/a", params={"waitForSync": "true"}, json={"x": 1}).status_code == 201
    assert http.delete(f"{url}/a").status_code == 202
    assert http.delete(f"{url}/b", params={"waitForSync": "1"}).status_code == 200


def test_collection_wait_for_sync_makes_writes_201(http, arango_database):
    arango_database.create_collection("synced", sync=True)
    url = f"{http.base}/_api/document/synced"
    assert http.post(url, json={"_key": "a"}).status_code == 201
    assert http.delete(f"{url}/a").status_code == 200


def test_success_bodies_carry_no_error_num(http, col):
    col.insert({"_key": "a"})
    for response in (
        http.get(f"{http.base}/_api/document/sessions/a"),
        http.post(f"{http.base}/_api/document/sessions", json={"_key": "b"}),
        http.get(f"{http.base}/_api/collection"),
    ):
        assert response.ok and "errorNum" not in response.json()


# -- 4. preconditions --------------------------------------------------------


def test_get_with_wrong_rev_is_412_with_current_rev(col):
    current = col.insert({"_key": "a"})["_rev"]
    with pytest.raises(DocumentRevisionError) as info:
        col.get({"_key": "a", "_rev": current + "0"})
    assert info.value.http_code == 412 and info.value.error_code == 1200
    assert info.value.response.body["_rev"] == current
    assert info.value.response.body["_key"] == "a"
    assert col.get({"_key": "a", "_rev": current})["_rev"] == current
    assert col.get({"_key": "a", "_rev": "stale"}, check_rev=False)["_key"] == "a"


def test_has_with_wrong_rev_raises(col):
    current = col.insert({"_key": "a"})["_rev"]
    with pytest.raises(DocumentRevisionError):
        col.has("a", rev="stale")
    assert col.has("a", rev=current) is True


def test_delete_with_wrong_rev_raises_and_keeps_document(col):
    col.insert({"_key": "a"})
    with pytest.raises(DocumentRevisionError):
        col.delete({"_key": "a", "_rev": "stale"})
    assert col.has("a")
    assert col.delete({"_key": "a", "_rev": "stale"}, check_rev=False)["_key"] == "a"


def test_replace_and_update_check_body_rev(col):
    """The driver sends no If-Match for replace/update: ``_rev`` in the body plus ignoreRevs=0."""
    col.insert({"_key": "a"})
    with pytest.raises(DocumentRevisionError) as info:
        col.replace({"_key": "a", "_rev": "stale", "x": 1})
    assert info.value.error_code == 1200
    with pytest.raises(DocumentRevisionError):
        col.update({"_key": "a", "_rev": "stale", "x": 1})
    assert "x" not in col.get("a")
    assert col.update({"_key": "a", "_rev": "stale", "x": 1}, check_rev=False)
    assert col.replace({"_key": "a", "_rev": "stale", "y": 1}, check_rev=False)
    current = col.get("a")["_rev"]
    assert col.update({"_key": "a", "_rev": current, "z": 1})["_old_rev"] == current


def test_if_match_header_forces_check_and_if_none_match_gives_304(http, col):
    rev = col.insert({"_key": "a"})["_rev"]
    url = f"{http.base}/_api/document/sessions/a"
    assert http.patch(url, json={"x": 1}, headers={"If-Match": "stale"}).status_code == 412
    assert http.patch(url, json={"x": 1}, headers={"If-Match": f'"{rev}"'}).status_code == 202
    response = http.get(url, headers={"If-None-Match": f'"{col.get("a")["_rev"]}"'})
    assert response.status_code == 304 and response.content == b""
    assert http.get(url, headers={"If-None-Match": rev}).status_code == 200


def test_missing_document_errors(col):
    assert col.get("missing") is None
    with pytest.raises(DocumentReplaceError) as info:
        col.replace({"_key": "missing"})
    assert info.value.error_code == 1202 and info.value.http_code == 404
    with pytest.raises(DocumentUpdateError) as info:
        col.update({"_key": "missing"})
    assert info.value.error_code == 1202
    assert col.delete("missing", ignore_missing=True) is False
    with pytest.raises(DocumentDeleteError) as info:
        col.delete("missing")
    assert info.value.error_code == 1202


def test_missing_collection_errors(arango_database):
    """404/1203: get() raises (only 1202 means None), delete raises even with ignore_missing."""
    missing = arango_database.collection("nope")
    with pytest.raises(DocumentGetError) as info:
        missing.get("a")
    assert info.value.error_code == 1203 and info.value.http_code == 404
    with pytest.raises(DocumentInsertError) as info:
        missing.insert({"_key": "a"})
    assert info.value.error_code == 1203
    with pytest.raises(DocumentDeleteError) as info:
        missing.delete("a", ignore_missing=True)
    assert info.value.error_code == 1203


def test_has_on_missing_collection_is_false(arango_database):
    """HEAD has no body: a missing collection looks like a missing document."""
    assert arango_database.collection("nope").has("a") is False


def test_has_with_bad_credentials_raises_with_http_status(arango_server, arango_client, arango_database):
    db = arango_client.db(arango_database.name, username=arango_server.username, password="wrong")
    with pytest.raises(DocumentInError) as info:
        db.collection("sessions").has("a")
    assert info.value.error_code == 401


def test_head_responses_have_no_body(http, col):
    col.insert({"_key": "a"})
    found = http.head(f"{http.base}/_api/document/sessions/a")
    missing = http.head(f"{http.base}/_api/document/sessions/zz")
    assert found.status_code == 200 and found.content == b""
    assert found.headers["Etag"].strip('"') == col.get("a")["_rev"]
    assert missing.status_code == 404 and missing.content == b""


def test_error_body_shape(http, col):
    body = http.get(f"{http.base}/_api/document/sessions/zz").json()
    assert body == {"code": 404, "error": True, "errorMessage": "document not found", "errorNum": 1202}


# -- 5. overwrite modes, keepNull, mergeObjects ------------------------------


def test_insert_conflict_is_409_1210(col):
    col.insert({"_key": "a"})
    with pytest.raises(DocumentInsertError) as info:
        col.insert({"_key": "a"})
    assert info.value.http_code == 409 and info.value.error_code == 1210
    assert "conflicting key: a" in info.value.error_message


def test_overwrite_mode_ignore_keeps_existing(col):
    first = col.insert({"_key": "a", "x": 1})
    result = col.insert({"_key": "a", "x": 2}, overwrite_mode="ignore", return_new=True)
    assert result == first
    assert col.get("a")["x"] == 1


def test_overwrite_mode_replace(col):
    first = col.insert({"_key": "a", "x": 1, "keep": "no"})
    result = col.insert({"_key": "a", "x": 2}, overwrite_mode="replace", return_old=True, return_new=True)
    assert result["_old_rev"] == first["_rev"]
    assert result["old"]["keep"] == "no"
    assert result["new"] == col.get("a") and "keep" not in result["new"]


def test_legacy_overwrite_flag_means_replace(col):
    col.insert({"_key": "a", "x": 1, "y": 1})
    result = col.insert({"_key": "a", "x": 2}, overwrite=True)
    assert "_old_rev" in result
    assert col.get("a") == {**result_ids(result), "x": 2}


def result_ids(result):
    return {k: result[k] for k in SYSTEM_ATTRIBUTES}


def test_overwrite_mode_update_merges(col):
    col.insert({"_key": "a", "x": 1, "nested": {"p": 1}, "gone": 1})
    col.insert(
        {"_key": "a", "y": 2, "nested": {"q": 2}, "gone": None},
        overwrite_mode="update",
        keep_none=False,
    )
    stored = col.get("a")
    assert stored["x"] == 1 and stored["y"] == 2
    assert stored["nested"] == {"p": 1, "q": 2}
    assert "gone" not in stored


def test_overwrite_mode_conflict_explicit(col):
    col.insert({"_key": "a"})
    with pytest.raises(DocumentInsertError) as info:
        col.insert({"_key": "a"}, overwrite_mode="conflict")
    assert info.value.error_code == 1210


def test_update_keep_null_and_merge_objects(col):
    col.insert({"_key": "a", "n": {"p": 1, "q": 1}, "x": 1})
    col.update({"_key": "a", "x": None})
    assert col.get("a")["x"] is None  # keepNull defaults to true
    col.update({"_key": "a", "x": None, "n": {"q": None}}, keep_none=False)
    stored = col.get("a")
    assert "x" not in stored and stored["n"] == {"p": 1}
    col.update({"_key": "a", "n": {"r": 1}}, merge=False)
    assert col.get("a")["n"] == {"r": 1}


def test_replace_drops_old_attributes_and_url_key_wins(col):
    col.insert({"_key": "a", "x": 1})
    col.replace({"_id": "sessions/a", "y": 2})
    assert col.get("a") == {**result_ids(col.get("a")), "y": 2}


# -- 6. keys -----------------------------------------------------------------


VALID_SPECIAL_KEY = "a-b_c.d@e(f)+g,h=i;j$k!l*m'n%o:p"


@pytest.mark.parametrize("key", ["A", VALID_SPECIAL_KEY, "x" * 254, "123"])
def test_valid_keys_round_trip(col, key):
    assert col.insert({"_key": key})["_key"] == key
    assert col.get(key)["_key"] == key
    assert col.has(key)


@pytest.mark.parametrize(
    "key",
    ["a b", "a/b", "é", "x" * 255, "", 123, None, "tab\t", "a#b", "a?b", "[a]"],
    ids=repr,
)
def test_invalid_keys_are_400_1221(col, key):
    with pytest.raises(DocumentInsertError) as info:
        col.insert({"_key": key})
    assert info.value.http_code == 400 and info.value.error_code == 1221


def test_user_keys_refused_when_not_allowed(arango_database):
    col = arango_database.create_collection("auto", user_keys=False)
    with pytest.raises(DocumentInsertError) as info:
        col.insert({"_key": "mine"})
    assert info.value.http_code == 400 and info.value.error_code == 1222
    assert col.insert({})["_key"]


def test_key_the_driver_does_not_encode_percent(col):
    """``get("%41BC")`` sends ``/%41BC``: the server decodes it to ``ABC``."""
    col.insert({"_key": "ABC"})
    assert col.get("%41BC")["_key"] == "ABC"


def test_key_with_question_mark_becomes_a_query_string(col):
    """``get("a?b")`` sends ``/a?b``: the key the server sees is ``a``."""
    col.insert({"_key": "a"})
    assert col.get("a?b")["_key"] == "a"


def test_key_with_space_is_encoded_by_requests_and_decoded(col):
    """``"a b"`` goes out as ``a%20b``; decoded it is an illegal key, so a plain miss."""
    assert col.get("a b") is None
    assert col.has("a b") is False
    assert col.delete("a b", ignore_missing=True) is False


def test_key_with_literal_percent_round_trips(col):
    """requests turns a lone ``%`` into ``%25``; the server decodes it back."""
    col.insert({"_key": "50%off"})
    assert col.get("50%off")["_key"] == "50%off"


def test_slash_in_a_key_must_match_the_collection(col):
    from arango.exceptions import DocumentParseError

    col.insert({"_key": "a"})
    assert col.get("sessions/a")["_key"] == "a"
    with pytest.raises(DocumentParseError):
        col.get("other/a")


# -- batch operations --------------------------------------------------------


def test_get_many_skips_missing_and_accepts_ids_and_dicts(col):
    col.insert_many([{"_key": "a", "n": 1}, {"_key": "b", "n": 2}])
    found = col.get_many(["a", "missing", "sessions/b", {"_key": "a"}, "bad key"])
    assert [doc["_key"] for doc in found] == ["a", "b", "a"]
    assert found[0]["n"] == 1


def test_get_many_reports_missing_inline(http, col):
    col.insert({"_key": "a"})
    response = http.put(f"{http.base}/_api/document/sessions", params={"onlyget": "true"}, json=["a", "zz", "yy"])
    assert response.status_code == 200
    assert response.headers["X-Arango-Error-Codes"] == '{"1202":2}'
    body = response.json()
    assert body[0]["_key"] == "a"
    assert body[1] == {"error": True, "errorNum": 1202, "errorMessage": "document not found"}


def test_get_many_on_missing_collection_raises(arango_database):
    with pytest.raises(DocumentGetError) as info:
        arango_database.collection("nope").get_many(["a"])
    assert info.value.error_code == 1203


def test_insert_many_with_errors_inline(col):
    col.insert({"_key": "taken"})
    results = col.insert_many([{"_key": "new"}, {"_key": "taken"}, {"_key": "bad key"}, {"x": 1}])
    assert results[0]["_key"] == "new"
    assert isinstance(results[1], DocumentInsertError) and results[1].error_code == 1210
    assert isinstance(results[2], DocumentInsertError) and results[2].error_code == 1221
    assert set(results[3]) == SYSTEM_ATTRIBUTES
    assert col.count() == 3
    with pytest.raises(DocumentInsertError):
        col.insert_many([{"_key": "taken"}], raise_on_document_error=True)


def test_insert_many_overwrite_reports_old_rev(col):
    first = col.insert({"_key": "a"})
    results = col.insert_many([{"_key": "a", "x": 1}], overwrite_mode="replace")
    assert results[0]["_old_rev"] == first["_rev"]


def test_delete_many_with_missing_keys_and_bad_revs(col):
    col.insert_many([{"_key": "a"}, {"_key": "b"}, {"_key": "c"}])
    results = col.delete_many(["a", "missing", {"_key": "b", "_rev": "stale"}, {"_id": "sessions/c"}])
    assert results[0]["_key"] == "a"
    assert isinstance(results[1], DocumentDeleteError) and results[1].error_code == 1202
    assert isinstance(results[2], DocumentRevisionError) and results[2].error_code == 1200
    assert results[3]["_key"] == "c"
    assert [doc["_key"] for doc in col.get_many(["a", "b", "c"])] == ["b"]
    assert col.delete_many([{"_key": "b", "_rev": "stale"}], check_rev=False)[0]["_key"] == "b"


def test_update_and_replace_many(col):
    col.insert_many([{"_key": "a", "x": 1}, {"_key": "b", "x": 1}])
    updated = col.update_many([{"_key": "a", "y": 2}, {"_key": "missing"}])
    assert updated[0]["_old_rev"] and isinstance(updated[1], DocumentUpdateError)
    replaced = col.replace_many([{"_key": "b", "z": 3}])
    assert replaced[0]["_key"] == "b"
    assert col.get("a")["y"] == 2 and col.get("b") == {**result_ids(col.get("b")), "z": 3}


def test_silent_batch_returns_true(col):
    assert col.insert_many([{"_key": "a"}, {"_key": "b"}], silent=True) is True
    assert col.delete_many(["a", "b"], silent=True) is True
    assert col.count() == 0
