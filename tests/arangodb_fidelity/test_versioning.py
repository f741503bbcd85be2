"""Fidelity of the ArangoDB test server: ``versionAttribute`` (external versioning, 3.12).

As the 3.12 document API defines it: a replace/update (or an insert with
``overwriteMode`` replace/update) carrying a version that is not higher than
the stored one (both rounded down) is not applied, with no error; the answer
then has ``_oldRev`` equal to ``_rev``. A missing, non-numeric or negative
version never blocks the write. Plain inserts (``conflict``) and ``ignore``
are unaffected.
"""

from __future__ import annotations

import pytest
from arango.exceptions import DocumentInsertError, DocumentRevisionError


@pytest.fixture
def col(arango_database):
    collection = arango_database.create_collection("versioned")
    collection.insert({"_key": "k", "v": 5, "payload": "five"})
    return collection


def stored(col):
    return col.get("k")


@pytest.mark.parametrize("mode", ["replace", "update"])
def test_insert_overwrite_applies_only_a_higher_version(col, mode):
    before = stored(col)
    for older in (5, 4, 5.9, -0.0):
        result = col.insert({"_key": "k", "v": older, "payload": "old"}, overwrite_mode=mode, version_attribute="v")
        assert result["_rev"] == result["_old_rev"] == before["_rev"]
        assert stored(col) == before
    result = col.insert({"_key": "k", "v": 6, "payload": "six"}, overwrite_mode=mode, version_attribute="v")
    assert result["_old_rev"] == before["_rev"] != result["_rev"]
    assert stored(col)["payload"] == "six" and stored(col)["v"] == 6


@pytest.mark.parametrize("incoming", [{"payload": "none"}, {"v": "7", "payload": "str"}, {"v": -1, "payload": "neg"}])
def test_missing_non_numeric_or_negative_versions_always_apply(col, incoming):
    col.replace({"_key": "k", **incoming}, version_attribute="v")
    assert stored(col)["payload"] == incoming["payload"]


def test_stored_document_without_version_is_overwritten(col):
    col.replace({"_key": "k", "payload": "unversioned"})
    col.replace({"_key": "k", "v": 1, "payload": "one"}, version_attribute="v")
    assert stored(col)["v"] == 1


def test_replace_and_update_skip_stale_writes(col):
    before = stored(col)
    result = col.replace({"_key": "k", "v": 3, "payload": "stale"}, version_attribute="v", return_new=True)
    assert result["_rev"] == before["_rev"] and result["new"] == before
    result = col.update({"_key": "k", "v": 5, "payload": "same"}, version_attribute="v", return_old=True)
    assert result["_old_rev"] == result["_rev"] == before["_rev"] and result["old"] == before
    assert stored(col) == before
    col.update({"_key": "k", "v": 6.5, "extra": 1}, version_attribute="v")
    assert stored(col)["payload"] == "five" and stored(col)["extra"] == 1 and stored(col)["v"] == 6.5
    col.update({"_key": "k", "v": 6.9}, version_attribute="v")
    assert stored(col)["v"] == 6.5
    col.update({"_key": "k", "x": 1}, version_attribute="v")
    assert stored(col)["x"] == 1


def test_without_the_option_the_stale_write_wins(col):
    col.replace({"_key": "k", "v": 1, "payload": "stale"})
    assert stored(col)["v"] == 1


def test_revision_check_still_comes_first(col):
    with pytest.raises(DocumentRevisionError):
        col.replace({"_key": "k", "_rev": "_bogus_rev_", "v": 9}, version_attribute="v")
    assert stored(col)["v"] == 5


def test_plain_insert_and_ignore_are_unaffected(col):
    with pytest.raises(DocumentInsertError) as info:
        col.insert({"_key": "k", "v": 9}, version_attribute="v")
    assert info.value.error_code == 1210
    result = col.insert({"_key": "k", "v": 9}, overwrite_mode="ignore", version_attribute="v")
    assert "_old_rev" not in result and stored(col)["v"] == 5


def test_batch_writes_apply_versions_per_document(col):
    col.insert_many([{"_key": "a", "v": 1}, {"_key": "b", "v": 1}])
    revs = {doc["_key"]: doc["_rev"] for doc in col.get_many(["a", "b", "k"])}
    results = col.insert_many(
        [{"_key": "a", "v": 2}, {"_key": "b", "v": 1, "stale": True}, {"_key": "new", "v": 0}],
        overwrite_mode="update",
        version_attribute="v",
    )
    assert results[0]["_old_rev"] == revs["a"] != results[0]["_rev"]
    assert results[1]["_old_rev"] == results[1]["_rev"] == revs["b"]
    assert "_old_rev" not in results[2]
    col.replace_many([{"_key": "a", "v": 1, "p": 1}, {"_key": "k", "v": 10, "p": 2}], version_attribute="v")
    col.update_many([{"_key": "b", "v": 0, "p": 3}], version_attribute="v")
    docs = {doc["_key"]: doc for doc in col.get_many(["a", "b", "k"])}
    assert docs["a"]["v"] == 2 and "p" not in docs["a"]
    assert docs["k"] == {"_key": "k", "_id": "versioned/k", "_rev": docs["k"]["_rev"], "v": 10, "p": 2}
    assert "p" not in docs["b"] and "stale" not in docs["b"]
