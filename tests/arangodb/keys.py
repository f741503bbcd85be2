"""Document keys, names, key generators and revision strings.

Rules from ArangoDB's ``KeyGenerator.cpp`` and the data-structure docs, as
summarised in ``shared/docs/arangodb-http-subset.md`` §3 and §4.
"""

from __future__ import annotations

import re
import string
import threading
import time
import typing as t
import uuid

from .errors import ArangoError

#: Characters allowed in a user-supplied ``_key``.
KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_-.@()+,=;$!*'%:")
#: Longest ``_key`` in UTF-8 bytes.
MAX_KEY_BYTES = 254

_COLLECTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_SYSTEM_COLLECTION_NAME = re.compile(r"_[A-Za-z0-9_-]+\Z")
_DATABASE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_INDEX_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")


def is_valid_key(key: object) -> bool:
    """Whether ``key`` may be used as a user-supplied ``_key``."""
    return (
        isinstance(key, str)
        and 0 < len(key.encode("utf-8")) <= MAX_KEY_BYTES
        and all(char in KEY_CHARS for char in key)
    )


def is_valid_collection_name(name: object, *, system: bool = False) -> bool:
    """Traditional collection naming: letters, digits, ``_`` and ``-``."""
    if not isinstance(name, str) or len(name.encode("utf-8")) > 256:
        return False
    pattern = _SYSTEM_COLLECTION_NAME if system else _COLLECTION_NAME
    return pattern.match(name) is not None


def is_valid_database_name(name: object) -> bool:
    """Traditional database naming, at most 64 bytes."""
    return isinstance(name, str) and len(name.encode("utf-8")) <= 64 and _DATABASE_NAME.match(name) is not None


def is_valid_index_name(name: object) -> bool:
    """Index names follow the collection naming rules."""
    return isinstance(name, str) and len(name.encode("utf-8")) <= 256 and _INDEX_NAME.match(name) is not None


def key_part(handle: str) -> str:
    """The key of a ``collection/key`` handle, or the handle itself.

    Batch bodies may name documents by id; the server takes what follows the
    first ``/`` (``transaction::helpers::extractKeyPart``).
    """
    return handle.split("/", 1)[1] if "/" in handle else handle


class KeyGenerator:
    """Generates ``_key`` values for one collection.

    Supports ArangoDB's ``traditional``, ``autoincrement``, ``padded`` and
    ``uuid`` generators. Numeric user keys advance the counter of the counting
    generators, as ``track()`` does in ArangoDB, so generated keys never
    collide with them.
    """

    TYPES = ("traditional", "autoincrement", "padded", "uuid")

    def __init__(
        self,
        type: str = "traditional",
        *,
        allow_user_keys: bool = True,
        increment: int = 1,
        offset: int = 0,
        last_value: int = 0,
    ) -> None:
        if type not in self.TYPES:
            raise ArangoError(1232, f"invalid key generator type '{type}'")
        if type == "autoincrement" and (not _is_int(increment) or not 0 < increment < 2**16 or not _is_int(offset)):
            raise ArangoError(10, "autoincrement key generator needs increment in 1..65535")
        self.type = type
        self.allow_user_keys = allow_user_keys
        self.increment = increment
        self.offset = offset
        self.last_value = last_value

    @classmethod
    def from_options(cls, options: t.Any) -> KeyGenerator:
        """Build a generator from a collection's ``keyOptions`` (may be absent)."""
        if options is None:
            return cls()
        if not isinstance(options, dict):
            raise ArangoError(10, "keyOptions must be an object")
        kind = options.get("type") or "traditional"
        return cls(
            kind,
            allow_user_keys=bool(options.get("allowUserKeys", True)),
            increment=options.get("increment", 1),
            offset=options.get("offset", 0),
            last_value=int(options.get("lastValue", 0) or 0),
        )

    def generate(self) -> str:
        """A new key, unique within the collection."""
        if self.type == "uuid":
            return str(uuid.uuid4())
        if self.type == "autoincrement":
            if self.last_value < self.offset:
                self.last_value = self.offset
            else:
                self.last_value += self.increment
        else:
            self.last_value += 1
        if self.type == "padded":
            return f"{self.last_value:016x}"
        return str(self.last_value)

    def track(self, key: str) -> None:
        """Remember a user key so that later generated keys stay above it."""
        if self.type in ("traditional", "autoincrement") and key.isdigit():
            self.last_value = max(self.last_value, int(key))

    def options(self) -> dict[str, t.Any]:
        """The ``keyOptions`` attribute of the collection properties."""
        result: dict[str, t.Any] = {
            "type": self.type,
            "allowUserKeys": self.allow_user_keys,
        }
        if self.type == "autoincrement":
            result["increment"] = self.increment
            result["offset"] = self.offset
        if self.type != "uuid":
            result["lastValue"] = self.last_value
        return result


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_REV_ALPHABET = "-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def encode_revision(stamp: int) -> str:
    """Encode a stamp like ``HybridLogicalClock::encodeTimeStamp`` (6 bits a char)."""
    chars = []
    while stamp:
        chars.append(_REV_ALPHABET[stamp & 63])
        stamp >>= 6
    return "".join(reversed(chars)) or "-"


class RevisionClock:
    """Hands out strictly increasing ``_rev`` strings, unique per server.

    The stamp is ``milliseconds << 20`` like ArangoDB's hybrid logical clock,
    so revisions look real (``"_aLSfdI----"``) and stay increasing across a
    restart from a state file.
    """

    def __init__(self, last: int = 0) -> None:
        self.last = last
        self._lock = threading.Lock()

    def next(self) -> str:
        """The next revision string."""
        with self._lock:
            self.last = max(self.last + 1, int(time.time() * 1000) << 20)
            return encode_revision(self.last)
