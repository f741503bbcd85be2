"""Session records and the store interface, without any I/O.

A session record is what the Flask cookie's ``sid`` points at. The cookie is
Flask's own signed cookie and holds nothing else; everything the server
trusts lives in the record.
"""

from __future__ import annotations

import abc
import re
import secrets
import time
import typing as t
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

#: Bytes of randomness in a new session id (256 bits).
SESSION_ID_BYTES = 32

#: Session ids are ``secrets.token_urlsafe`` output: URL-safe base64. The
#: bounds reject anything we could not have issued before it reaches a driver
#: (python-arango puts keys into URLs without encoding them).
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{32,128}")

#: The longest uid accepted from a record; longer ones are treated as broken.
MAX_UID_LENGTH = 256


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def is_valid_session_id(value: object) -> bool:
    """Whether ``value`` could be a session id we issued (type and alphabet)."""
    return isinstance(value, str) and _SESSION_ID.fullmatch(value) is not None


def normalize_uid(value: object) -> str | None:
    """Return the uid as a string, or ``None`` when the record is not logged in.

    A uid is a non-empty string or a positive integer. Anything else (``0``,
    ``""``, lists, dicts, booleans, null) means "not authenticated": a record
    written by another service with a surprising shape must never let a
    socket in.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and 0 < len(value) <= MAX_UID_LENGTH and value.strip():
        return value
    return None


def _timestamp(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value in (float("inf"), float("-inf")):  # NaN, inf
        return None
    return float(value)


@dataclass(frozen=True)
class SessionRecord:
    """One session: who (``uid``, ``None`` when anonymous) and until when."""

    sid: str
    uid: str | None
    created_at: float
    expires_at: float

    @property
    def is_authenticated(self) -> bool:
        return self.uid is not None

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    def to_document(self) -> dict[str, t.Any]:
        """The stored form. Anonymous records have no ``uid`` key at all."""
        doc: dict[str, t.Any] = {"_key": self.sid, "created_at": self.created_at, "expires_at": self.expires_at}
        if self.uid is not None:
            doc["uid"] = self.uid
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, t.Any]) -> SessionRecord | None:
        """Read a stored document; ``None`` when it is too broken to trust.

        A record without a usable ``expires_at`` cannot be checked for expiry,
        so it is treated as missing (fail closed).
        """
        sid = doc.get("_key")
        expires_at = _timestamp(doc.get("expires_at"))
        if not is_valid_session_id(sid) or expires_at is None:
            return None
        created_at = _timestamp(doc.get("created_at"))
        return cls(
            sid=t.cast(str, sid),
            uid=normalize_uid(doc.get("uid")),
            created_at=created_at if created_at is not None else 0.0,
            expires_at=expires_at,
        )

    @classmethod
    def new(cls, uid: str | None, lifetime: float, now: float) -> SessionRecord:
        return cls(sid=new_session_id(), uid=uid, created_at=now, expires_at=now + lifetime)


class SessionStore(abc.ABC):
    """Where session records live.

    Subclasses implement the ``_``-prefixed I/O methods; the public methods
    here validate ids before any I/O and check expiry on every read (ArangoDB
    removes expired documents only periodically). Every I/O failure is raised
    as :class:`~realtime.errors.StoreError`.
    """

    #: Short name for logs: which store is in use.
    kind: str = "abstract"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    # -- reads -----------------------------------------------------------

    def get(self, sid: object) -> SessionRecord | None:
        """The live record for ``sid``, or ``None`` (unknown, expired or malformed id).

        A malformed id costs no I/O.
        """
        if not is_valid_session_id(sid):
            return None
        record = self._load(t.cast(str, sid))
        if record is None or record.is_expired(self.clock()):
            return None
        return record

    def get_many(self, sids: Iterable[str]) -> dict[str, SessionRecord]:
        """Live records for many ids in one round trip, keyed by sid."""
        wanted = sorted({sid for sid in sids if is_valid_session_id(sid)})
        if not wanted:
            return {}
        now = self.clock()
        return {r.sid: r for r in self._load_many(wanted) if not r.is_expired(now)}

    def sessions_of_user(self, uid: str) -> list[SessionRecord]:
        now = self.clock()
        return [r for r in self._of_user(uid) if not r.is_expired(now)]

    def recent(self, limit: int = 50) -> list[SessionRecord]:
        return self._recent(limit)

    # -- writes ----------------------------------------------------------

    def create(self, uid: str | None, lifetime: float) -> SessionRecord:
        """Store and return a fresh record with a new random id."""
        record = SessionRecord.new(uid, lifetime, self.clock())
        self._save(record)
        return record

    def save(self, record: SessionRecord) -> None:
        """Insert or replace ``record``."""
        if not is_valid_session_id(record.sid):
            raise ValueError("refusing to store a record with a malformed session id")
        self._save(record)

    def extend(self, sid: object, expires_at: float) -> bool:
        """Move the expiry of an existing record; ``False`` when there is none.

        Only ``expires_at`` changes and a missing record is never created, so
        a session revoked while a request was extending it stays revoked
        (sliding sessions, :mod:`realtime.live`).
        """
        if not is_valid_session_id(sid):
            return False
        return self._extend(t.cast(str, sid), float(expires_at))

    def delete(self, sid: object) -> bool:
        """Delete one record; ``False`` when there was none."""
        if not is_valid_session_id(sid):
            return False
        return self._delete(t.cast(str, sid))

    def delete_user(self, uid: str) -> list[str]:
        """Delete every record of ``uid``; return the deleted sids."""
        sids = [r.sid for r in self._of_user(uid)]
        for sid in sids:
            self._delete(sid)
        return sids

    def purge_expired(self) -> int:
        """Delete expired records now; return how many."""
        return self._purge_expired(self.clock())

    # -- lifecycle -------------------------------------------------------

    def init_schema(self) -> list[str]:
        """Create what the store needs (idempotent); return what was created."""
        return []

    def ping(self) -> None:  # noqa: B027 - optional: stores without a cheap probe keep this no-op
        """Raise :class:`StoreError` unless the store answers."""

    def describe(self) -> str:
        """Where the records are, for the startup log line (no secrets)."""
        return self.kind

    # -- for subclasses --------------------------------------------------

    @abc.abstractmethod
    def _load(self, sid: str) -> SessionRecord | None: ...

    @abc.abstractmethod
    def _load_many(self, sids: list[str]) -> list[SessionRecord]: ...

    @abc.abstractmethod
    def _of_user(self, uid: str) -> list[SessionRecord]: ...

    @abc.abstractmethod
    def _recent(self, limit: int) -> list[SessionRecord]: ...

    @abc.abstractmethod
    def _save(self, record: SessionRecord) -> None: ...

    @abc.abstractmethod
    def _delete(self, sid: str) -> bool: ...

    @property
    def can_extend(self) -> bool:
        """Whether this store implements ``_extend`` (needed by sliding sessions only)."""
        return type(self)._extend is not SessionStore._extend

    def _extend(self, sid: str, expires_at: float) -> bool:
        # Optional, so custom stores written before sliding sessions keep
        # working; the live service refuses REALTIME_SLIDING_SESSIONS at
        # startup for a store that lacks it, so this is never reached.
        return False

    @abc.abstractmethod
    def _purge_expired(self, now: float) -> int: ...
