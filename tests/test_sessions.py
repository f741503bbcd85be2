"""Session ids and records: pure logic, no I/O."""

from __future__ import annotations

import math

import pytest

from realtime.sessions import SessionRecord, is_valid_session_id, new_session_id, normalize_uid


def test_new_ids_are_long_random_and_valid():
    ids = {new_session_id() for _ in range(200)}
    assert len(ids) == 200
    for sid in ids:
        assert is_valid_session_id(sid)
        assert len(sid) >= 43  # 32 bytes of randomness, URL-safe base64


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        ["a" * 43],
        {"a": 1},
        "",
        "short",
        "a" * 129,
        "a" * 42 + "/",
        "a" * 42 + "?",
        "a" * 42 + "#",
        "%41" * 15,
        "a" * 40 + "..",
        "a" * 42 + " ",
        "a" * 42 + "é",
        "a" * 42 + "\x00",
        b"a" * 43,
    ],
)
def test_malformed_ids_are_rejected(value):
    assert not is_valid_session_id(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("u1", "u1"),
        (7, "7"),
        (0, None),
        (-1, None),
        ("", None),
        ("   ", None),
        ([], None),
        ({}, None),
        (None, None),
        (True, None),
        (False, None),
        (1.5, None),
        ("x" * 257, None),
    ],
)
def test_uid_normalization_fails_closed(raw, expected):
    assert normalize_uid(raw) == expected


def test_record_round_trips_through_its_document():
    record = SessionRecord.new("u1", lifetime=60, now=1000.0)
    doc = record.to_document()
    assert doc == {"_key": record.sid, "uid": "u1", "created_at": 1000.0, "expires_at": 1060.0}
    assert SessionRecord.from_document(doc) == record


def test_anonymous_record_has_no_uid_key():
    record = SessionRecord.new(None, lifetime=60, now=0.0)
    assert "uid" not in record.to_document()
    assert not record.is_authenticated


@pytest.mark.parametrize("expires_at", [None, "2030-01-01", math.nan, math.inf, True, [1]])
def test_record_without_usable_expiry_is_treated_as_missing(expires_at):
    assert SessionRecord.from_document({"_key": new_session_id(), "uid": "u", "expires_at": expires_at}) is None


def test_expiry_is_inclusive():
    record = SessionRecord("a" * 43, "u", 0.0, 100.0)
    assert not record.is_expired(99.999)
    assert record.is_expired(100.0)
