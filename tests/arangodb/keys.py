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
import unicodedata
import uuid

from .errors import ArangoError

#: Characters allowed in a user-supplied ``_key``.
KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_-.@()+,=;$!*'%:")
#: Longest ``_key`` in UTF-8 bytes.
MAX_KEY_BYTES = 254

_TRADITIONAL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_TRADITIONAL_SYSTEM_NAME = re.compile(r"_[A-Za-z0-9_-]*\Z")
#: Longest database name in UTF-8 bytes (traditional, extended).
MAX_DATABASE_NAME_BYTES = {False: 64, True: 128}
#: Longest collection or index name in UTF-8 bytes (both conventions).
MAX_NAME_BYTES = 256


def is_valid_key(key: object) -> bool:
    """Whether ``key`` may be used as a user-supplied ``_key``."""
    return (
        isinstance(key, str)
        and 0 < len(key.encode("utf-8")) <= MAX_KEY_BYTES
        and all(char in KEY_CHARS for char in key)
    )


def _allowed_name(name: str, *, extended: bool, allow_system: bool, max_bytes: int, forbidden: str = "/") -> bool:
    """``NameValidator::isAllowedName`` for either naming convention.

    ArangoDB 3.12 enables ``--database.extended-names`` by default: any UTF-8
    but ``/`` (and ``:`` in database names) and control characters, not
    starting with a digit, ``.``, a space or (unless system) ``_``, not ending
    with a space. The traditional convention is ``[A-Za-z][A-Za-z0-9_-]*``.
    """
    if not 0 < len(name.encode("utf-8")) <= max_bytes:
        return False
    if not extended:
        pattern = _TRADITIONAL_SYSTEM_NAME if allow_system and name[0] == "_" else _TRADITIONAL_NAME
        return pattern.match(name) is not None
    if any(char in forbidden or ord(char) < 32 for char in name):
        return False
    first = name[0]
    return (
        not (first.isascii() and first.isdigit())
        and first not in ". "
        and (first != "_" or allow_system)
        and name[-1] != " "
    )


def name_error(kind: str, name: object, *, extended: bool, system: bool = False) -> ArangoError | None:
    """The 400/1208 a collection or index name gets, None if it is valid.

    ``CollectionNameValidator::validateName`` / ``IndexNameValidator``: an
    extended name must also be NFC-normalized.
    """
    if not isinstance(name, str) or not _allowed_name(
        name, extended=extended, allow_system=system, max_bytes=MAX_NAME_BYTES
    ):
        return ArangoError(1208, f"illegal name: {kind} name invalid")
    if extended and unicodedata.normalize("NFC", name) != name:
        return ArangoError(1208, f"{kind} name is not properly UTF-8 NFC-normalized")
    return None


def is_valid_database_name(name: object, *, extended: bool = True) -> bool:
    """``DatabaseNameValidator::isAllowedName`` (no ``:`` either; 64/128 bytes)."""
    return isinstance(name, str) and _allowed_name(
        name, extended=extended, allow_system=False, max_bytes=MAX_DATABASE_NAME_BYTES[extended], forbidden="/:"
    )


def is_valid_index_name(name: object, *, extended: bool = True) -> bool:
    """Index names follow the collection rules, never with a leading ``_``."""
    return name_error("index", name, extended=extended) is None


def is_valid_document_id(value: object, *, extended: bool = True) -> bool:
    """``KeyGeneratorHelper::validateId``: ``<collection name or numeric id>/<valid key>``.

    This is what an edge's ``_from`` and ``_to`` must be; the collection need
    not exist.
    """
    if not isinstance(value, str) or "/" not in value:
        return False
    collection, key = value.split("/", 1)
    if not collection:
        return False
    if not (collection.isascii() and collection.isdigit()) and not _allowed_name(
        collection, extended=extended, allow_system=True, max_bytes=MAX_NAME_BYTES
    ):
        return False
    return is_valid_key(key)


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
        if not isinstance(options, dict):
            # 3.12's compatibility pass drops keyOptions that are not an object.
            return cls()
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
