"""In-memory databases, collections and documents with ArangoDB's semantics.

Pure logic: no sockets, no threads of its own. Every method assumes the
caller holds :attr:`Store.lock` (the HTTP layer takes it once per request and
the TTL sweeper once per sweep), so each request is atomic, like a single
document operation in ArangoDB.

Stored documents are never modified in place (every write stores a new dict),
so a response may hold references to them and be encoded after the lock is
released.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import threading
import typing as t

from . import values
from .errors import REV_MISMATCH, ArangoError
from .indexes import EDGE, PRIMARY, Index
from .keys import KeyGenerator, RevisionClock, is_valid_database_name, is_valid_document_id, is_valid_key, name_error
from .ttl import is_expired

logger = logging.getLogger(__name__)

Document = dict[str, t.Any]

#: Attributes the server owns or places itself; ``_from`` and ``_to`` are
#: dropped from documents of document collections (``newObjectForInsert``).
SYSTEM_ATTRIBUTES = frozenset(("_key", "_id", "_rev", "_from", "_to"))
#: Collection types (``TRI_col_type_e``).
DOCUMENT_COLLECTION, EDGE_COLLECTION = 2, 3
#: System collections every new database gets (a subset of ArangoDB's).
SYSTEM_COLLECTIONS = ("_analyzers", "_aqlfunctions", "_graphs")
#: Additional system collections of ``_system``.
SYSTEM_DATABASE_COLLECTIONS = ("_users",)
#: Overwrite modes of an insert whose ``_key`` already exists.
OVERWRITE_MODES = ("conflict", "ignore", "replace", "update")


@dataclasses.dataclass
class WriteResult:
    """Outcome of one document write.

    :param old: the document before the write; None for a fresh insert.
    :param new: the document after the write; None for a removal.
    :param ignored: an insert with ``overwriteMode=ignore`` found the key
        taken and left the existing document (``old`` is ``new``) alone.
    """

    old: Document | None
    new: Document | None
    ignored: bool = False

    def body(self, *, return_new: bool, return_old: bool) -> dict[str, t.Any]:
        """The response body ArangoDB builds (``buildDocumentIdentity``)."""
        current = self.new if self.new is not None else self.old
        assert current is not None
        body: dict[str, t.Any] = {
            "_id": current["_id"],
            "_key": current["_key"],
            "_rev": current["_rev"],
        }
        if self.ignored:
            return body
        if self.old is not None and self.new is not None:
            body["_oldRev"] = self.old["_rev"]
        if return_new and self.new is not None:
            body["new"] = self.new
        if return_old and self.old is not None:
            body["old"] = self.old
        return body


def merge_patch(old: Document, patch: Document, *, keep_null: bool, merge_objects: bool) -> Document:
    """Apply a PATCH body the way ``mergeObjectsForUpdate`` does.

    ``keepNull=false`` removes attributes the patch sets to null (in merged
    sub-objects too); ``mergeObjects=true`` merges sub-objects instead of
    replacing them.
    """
    result = dict(old)
    for name, value in patch.items():
        current = result.get(name)
        if merge_objects and isinstance(value, dict) and isinstance(current, dict):
            result[name] = merge_patch(current, value, keep_null=keep_null, merge_objects=True)
        elif value is None and not keep_null:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def _user_attributes(body: Document) -> t.Iterator[tuple[str, t.Any]]:
    return ((k, v) for k, v in body.items() if k not in SYSTEM_ATTRIBUTES)


def newer_version(stored: Document, incoming: Document, attribute: str | None) -> bool:
    """Whether a write carrying ``incoming`` may replace ``stored`` (``versionAttribute``).

    External versioning as the 3.12 docs define it: the write is skipped when
    both versions are numbers and the new one, rounded down, is not higher
    than the stored one (also rounded down). A missing, non-numeric or
    negative version never blocks a write.
    """
    if not attribute:
        return True
    new, old = incoming.get(attribute), stored.get(attribute)
    if not values.is_number(new) or not values.is_number(old) or new < 0 or old < 0:
        return True
    return math.floor(new) > math.floor(old)


#: Validation levels of a collection schema (``ValidatorBase``).
SCHEMA_LEVELS = ("none", "new", "moderate", "strict")


def parse_schema(schema: t.Any) -> dict[str, t.Any] | None:
    """A ``schema`` property as ArangoDB stores and returns it; None removes it.

    Invalid descriptions are 400/1621 with ``LogicalCollection::updateSchema``'s
    messages. The rule is kept, not evaluated (see the README).
    """
    if schema is None or schema == {}:
        return None
    if not isinstance(schema, dict):
        raise ArangoError(1621, "Schema description is not an object.")
    rule = schema.get("rule")
    if not isinstance(rule, dict):
        detail = json.dumps(schema, separators=(",", ":"))
        raise ArangoError(
            1621, f"Error when building schema: No valid schema in rule attribute given (no object): {detail}"
        )
    level = schema.get("level", "strict")
    if not isinstance(level, str):
        level = "strict"
    if level not in SCHEMA_LEVELS:
        raise ArangoError(1621, "Error when building schema: Valid validation levels are: " + ", ".join(SCHEMA_LEVELS))
    message = schema.get("message")
    return {
        "message": message if isinstance(message, str) else "",
        "level": level,
        "type": "json",
        "rule": rule,
    }


def _conflict(document: Document) -> ArangoError:
    # The 412 body carries the current revision (generateConflictError).
    return ArangoError(
        1200,
        REV_MISMATCH,
        status=412,
        extra={
            "_id": document["_id"],
            "_key": document["_key"],
            "_rev": document["_rev"],
        },
    )


class Collection:
    """A document or edge collection: documents in insertion order plus indexes.

    :param type: 2 (document) or 3 (edge: every document has a valid
        ``_from`` and ``_to``, and the edge index is listed).
    :param schema: the stored ``schema`` property (kept and returned, not
        enforced: see the README).
    :param extended_names: the server's naming convention, which also
        decides which ``_from``/``_to`` values are valid.
    """

    def __init__(
        self,
        name: str,
        id: int,
        clock: RevisionClock,
        *,
        wait_for_sync: bool = False,
        key_generator: KeyGenerator | None = None,
        is_system: bool = False,
        type: int = DOCUMENT_COLLECTION,
        schema: dict[str, t.Any] | None = None,
        cache_enabled: bool = False,
        extended_names: bool = True,
    ) -> None:
        self.name = name
        self.id = id
        self.clock = clock
        self.wait_for_sync = wait_for_sync
        self.key_generator = key_generator or KeyGenerator()
        self.is_system = is_system
        self.type = type
        self.schema = schema
        self.cache_enabled = cache_enabled
        self.extended_names = extended_names
        self.documents: dict[str, Document] = {}
        self.indexes: list[Index] = []
        # Ids 1 and 2 are the edge index's two halves in ArangoDB.
        self.next_index_id = 3 if type == EDGE_COLLECTION else 1

    @property
    def is_edge(self) -> bool:
        """Whether this is an edge collection (type 3)."""
        return self.type == EDGE_COLLECTION

    # -- descriptions ---------------------------------------------------

    def info(self) -> dict[str, t.Any]:
        """The entry of ``GET /_api/collection`` and ``GET /_api/collection/{c}``."""
        return {
            "id": str(self.id),
            "name": self.name,
            "status": 3,
            "type": self.type,
            "isSystem": self.is_system,
            "globallyUniqueId": f"c{self.id}",
        }

    def properties(self) -> dict[str, t.Any]:
        """``GET /_api/collection/{c}/properties`` (single-server attributes)."""
        return {
            **self.info(),
            "statusString": "loaded",
            "waitForSync": self.wait_for_sync,
            "keyOptions": self.key_generator.options(),
            "writeConcern": 1,
            "replicationFactor": 1,
            "cacheEnabled": self.cache_enabled,
            "computedValues": None,
            "schema": self.schema,
            "syncByRevision": True,
            "usesRevisionsAsDocumentIds": True,
            "isSmart": False,
            "isSmartChild": False,
            "isDisjoint": False,
            "internalValidatorType": 0,
        }

    def configure(self, changes: t.Any) -> None:
        """``PUT /_api/collection/{c}/properties``: ``waitForSync``, ``schema``, ``cacheEnabled``.

        Other attributes are fixed at creation (``keyOptions``, ``type``) or
        cluster-only (``replicationFactor``, ``writeConcern``) and ignored,
        like a single server does.
        """
        if not isinstance(changes, dict):
            raise ArangoError(10, "expecting a JSON object as body")
        if changes.get("computedValues"):
            raise ArangoError(10, "'computedValues' is not implemented by the ArangoDB test server")
        schema = parse_schema(changes["schema"]) if "schema" in changes else self.schema
        # Flags that are not booleans leave the setting as it was.
        if isinstance(changes.get("waitForSync"), bool):
            self.wait_for_sync = changes["waitForSync"]
        if isinstance(changes.get("cacheEnabled"), bool):
            self.cache_enabled = changes["cacheEnabled"]
        self.schema = schema

    # -- documents ------------------------------------------------------

    def lookup(self, key: str) -> Document:
        """The stored document, or 404/1202."""
        document = self.documents.get(key)
        if document is None:
            raise ArangoError(1202)
        return document

    def read(self, key: str, expected_rev: str | None = None) -> Document:
        """The document, checking ``expected_rev`` (412/1200 on mismatch)."""
        document = self.lookup(key)
        self._check_rev(document, expected_rev)
        return document

    def insert(
        self,
        body: t.Any,
        *,
        overwrite_mode: str = "conflict",
        keep_null: bool = True,
        merge_objects: bool = True,
        version_attribute: str | None = None,
    ) -> WriteResult:
        """Insert ``body``; ``overwrite_mode`` decides what an existing key does.

        ``version_attribute`` applies to the ``replace`` and ``update`` modes
        only: an older or equal version leaves the stored document as it is.
        """
        if not isinstance(body, dict):
            raise ArangoError(1227)
        key = body.get("_key")
        if "_key" not in body:
            key = self.key_generator.generate()
        elif not self.key_generator.allow_user_keys:
            raise ArangoError(1222)
        elif not is_valid_key(key):
            raise ArangoError(1221)

        existing = self.documents.get(key)
        if existing is None:
            new = self._build(key, body)
        elif overwrite_mode == "ignore":
            return WriteResult(existing, existing, ignored=True)
        elif overwrite_mode in ("replace", "update") and not newer_version(existing, body, version_attribute):
            return WriteResult(existing, existing)
        elif overwrite_mode == "replace":
            new = self._build(key, body)
        elif overwrite_mode == "update":
            new = self._patched(existing, body, keep_null, merge_objects)
        else:
            raise ArangoError(
                1210,
                f"unique constraint violated - in index primary of type primary over '_key'; conflicting key: {key}",
            )
        self._store(new)
        self.key_generator.track(key)
        return WriteResult(existing, new)

    def replace(
        self, key: str, body: t.Any, expected_rev: str | None, *, version_attribute: str | None = None
    ) -> WriteResult:
        """Replace the whole document; the key comes from the URL, not the body."""
        if not isinstance(body, dict):
            raise ArangoError(1227)
        old = self.read(key, expected_rev)
        if not newer_version(old, body, version_attribute):
            return WriteResult(old, old)
        new = self._build(key, body)
        self._store(new)
        return WriteResult(old, new)

    def update(
        self,
        key: str,
        body: t.Any,
        expected_rev: str | None,
        *,
        keep_null: bool,
        merge_objects: bool,
        version_attribute: str | None = None,
    ) -> WriteResult:
        """Patch the document with ``body``."""
        if not isinstance(body, dict):
            raise ArangoError(1227)
        old = self.read(key, expected_rev)
        if not newer_version(old, body, version_attribute):
            return WriteResult(old, old)
        new = self._patched(old, body, keep_null, merge_objects)
        self._store(new)
        return WriteResult(old, new)

    def remove(self, key: str, expected_rev: str | None) -> WriteResult:
        """Delete the document."""
        old = self.read(key, expected_rev)
        del self.documents[key]
        return WriteResult(old, None)

    def truncate(self) -> None:
        """Remove every document; indexes stay."""
        self.documents.clear()

    def _edge_attribute(self, body: Document, name: str, fallback: Document | None = None) -> t.Any:
        """A valid ``_from``/``_to`` for the new document, or 400/1233.

        An update may leave it out (``fallback`` is the stored document); an
        insert or replace must carry it (``newObjectForInsert``/``Replace``).
        """
        if fallback is not None and name not in body:
            return fallback[name]
        value = body.get(name)
        if not is_valid_document_id(value, extended=self.extended_names):
            raise ArangoError(1233)
        return value

    def _system_part(self, key: str, body: Document, fallback: Document | None = None) -> Document:
        # ArangoDB's order: _key, _id, _from, _to, _rev, then the user's attributes.
        document: Document = {"_key": key, "_id": f"{self.name}/{key}"}
        if self.is_edge:
            document["_from"] = self._edge_attribute(body, "_from", fallback)
            document["_to"] = self._edge_attribute(body, "_to", fallback)
        document["_rev"] = self.clock.next()
        return document

    def _build(self, key: str, body: Document) -> Document:
        document = self._system_part(key, body)
        document.update(_user_attributes(body))
        return document

    def _patched(self, old: Document, body: Document, keep_null: bool, merge_objects: bool) -> Document:
        document = self._system_part(old["_key"], body, fallback=old)
        patch = dict(_user_attributes(body))
        document.update(
            merge_patch(dict(_user_attributes(old)), patch, keep_null=keep_null, merge_objects=merge_objects)
        )
        return document

    def _store(self, document: Document) -> None:
        self._check_unique(document)
        self.documents[document["_key"]] = document

    @staticmethod
    def _check_rev(document: Document, expected_rev: str | None) -> None:
        if expected_rev is not None and expected_rev != document["_rev"]:
            raise _conflict(document)

    def _check_unique(self, document: Document) -> None:
        for index in self.indexes:
            if not index.unique:
                continue
            entry = self._index_entry(index, document)
            if entry is None:
                continue
            for key, other in self.documents.items():
                if key != document["_key"] and self._index_entry(index, other) == entry:
                    raise ArangoError(
                        1210,
                        f"unique constraint violated - in index {index.name} of type"
                        f" {index.type} over '{', '.join(index.fields)}';"
                        f" conflicting key: {key}",
                    )

    @staticmethod
    def _index_entry(index: Index, document: Document) -> t.Hashable | None:
        entry = [values.get_path(document, field) for field in index.fields]
        if index.sparse and any(value is None for value in entry):
            return None
        return values.canonical(entry)

    # -- indexes --------------------------------------------------------

    def all_indexes(self) -> list[Index]:
        """The primary index first, the edge index of an edge collection, then the others."""
        if self.is_edge:
            return [PRIMARY, EDGE, *self.indexes]
        return [PRIMARY, *self.indexes]

    def describe_index(self, index: Index, *, with_estimate: bool = True) -> dict[str, t.Any]:
        """Index JSON, with a ``selectivityEstimate`` where ArangoDB has one."""
        description = index.describe(self.name)
        if with_estimate and (index.type in ("primary", "edge") or index.options.get("estimates")):
            description["selectivityEstimate"] = self._selectivity(index)
        return description

    def _selectivity(self, index: Index) -> float:
        if index.type == "primary" or index.unique or not self.documents:
            return 1
        if index.type == "edge":
            # Two indexes (_from, _to) listed as one, with the mean estimate.
            count = len(self.documents)
            distinct = (len({doc[field] for doc in self.documents.values()}) for field in index.fields)
            return sum(n / count for n in distinct) / 2
        entries = [self._index_entry(index, doc) for doc in self.documents.values()]
        entries = [entry for entry in entries if entry is not None]
        return len(set(entries)) / len(entries) if entries else 1

    def ensure_index(self, requested: Index) -> tuple[Index, bool]:
        """Return the matching index or create it; the flag says "created".

        :raise ArangoError: 400/10 for a second, different TTL index; 409/1207
            for a name used by another index; 409/1210 when a new unique index
            meets duplicate values.
        """
        for index in self.all_indexes():
            if index.matches(requested):
                return index, False
        if requested.type == "ttl" and self.ttl_index() is not None:
            raise ArangoError(10, "there can only be one ttl index per collection")
        if requested.name is not None and any(index.name == requested.name for index in self.all_indexes()):
            raise ArangoError(1207, f"duplicate value: index name '{requested.name}'")
        index = dataclasses.replace(requested, id=self.next_index_id)
        if index.name is None:
            index.name = f"idx_{index.id}"
        self.next_index_id += 1
        if index.unique:
            seen: dict[t.Hashable, str] = {}
            for key, document in self.documents.items():
                entry = self._index_entry(index, document)
                if entry is not None and seen.setdefault(entry, key) != key:
                    raise ArangoError(1210, f"unique constraint violated; conflicting key: {key}")
        self.indexes.append(index)
        return index, True

    def find_index(self, index_id: str) -> Index:
        """An index by numeric id or name, or 404/1212."""
        for index in self.all_indexes():
            if str(index.id) == index_id or index.name == index_id:
                return index
        raise ArangoError(1212)

    def drop_index(self, index_id: str) -> Index:
        """Remove an index; the primary and edge indexes cannot be dropped (403/11)."""
        index = self.find_index(index_id)
        if index.type in ("primary", "edge"):
            raise ArangoError(11, f"cannot drop {index.type} index")
        self.indexes.remove(index)
        return index

    def ttl_index(self) -> Index | None:
        """The collection's TTL index, if any (there is at most one)."""
        return next((index for index in self.indexes if index.type == "ttl"), None)

    def sweep_expired(self, now: float) -> int:
        """Remove documents the TTL index considers expired; returns how many."""
        index = self.ttl_index()
        if index is None:
            return 0
        field, expire_after = index.fields[0], index.expire_after
        expired = [key for key, document in self.documents.items() if is_expired(document, field, expire_after, now)]
        for key in expired:
            del self.documents[key]
        return len(expired)

    # -- state file -----------------------------------------------------

    def snapshot(self) -> dict[str, t.Any]:
        """A JSON-able copy of the collection for the state file."""
        return {
            "id": self.id,
            "isSystem": self.is_system,
            "type": self.type,
            "schema": self.schema,
            "cacheEnabled": self.cache_enabled,
            "waitForSync": self.wait_for_sync,
            "keyOptions": self.key_generator.options(),
            "nextIndexId": self.next_index_id,
            "indexes": [index.snapshot() for index in self.indexes],
            "documents": list(self.documents.values()),
        }

    @classmethod
    def restore(cls, name: str, data: dict[str, t.Any], clock: RevisionClock, *, extended_names: bool) -> Collection:
        """Rebuild a collection from :meth:`snapshot` output."""
        collection = cls(
            name,
            data["id"],
            clock,
            wait_for_sync=data["waitForSync"],
            key_generator=KeyGenerator.from_options(data["keyOptions"]),
            is_system=data["isSystem"],
            type=data.get("type", DOCUMENT_COLLECTION),
            schema=data.get("schema"),
            cache_enabled=data.get("cacheEnabled", False),
            extended_names=extended_names,
        )
        collection.next_index_id = data["nextIndexId"]
        collection.indexes = [Index.restore(index) for index in data["indexes"]]
        collection.documents = {doc["_key"]: doc for doc in data["documents"]}
        return collection


class Database:
    """A database: a namespace of collections."""

    def __init__(self, name: str, id: int) -> None:
        self.name = name
        self.id = id
        self.collections: dict[str, Collection] = {}

    @property
    def is_system(self) -> bool:
        """Whether this is ``_system``, the only database with admin APIs."""
        return self.name == "_system"

    def collection(self, name: str) -> Collection:
        """A collection by name or numeric id, or 404/1203."""
        found = self.collections.get(name)
        if found is None:
            found = next((c for c in self.collections.values() if str(c.id) == name), None)
        if found is None:
            raise ArangoError(1203, f"collection or view not found: {name}")
        return found

    def create_collection(self, store: Store, spec: t.Any) -> Collection:
        """Create a collection from a ``POST /_api/collection`` body."""
        # 3.12 parses the body by inspection (``CreateCollectionBody``): a
        # body or name it cannot read is plain 1208 "illegal name"; a name it
        # reads but the naming convention refuses gets the validator's text.
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ArangoError(1208)
        name = spec["name"]
        is_system = spec.get("isSystem") is True
        error = name_error("collection", name, extended=store.extended_names, system=is_system)
        if error is not None:
            raise error
        if name in self.collections:
            raise ArangoError(1207, f"duplicate name: '{name}'")
        # Its 3.11 compatibility pass makes every type but 3 (or "edge") a
        # document collection, and ignores non-boolean flags.
        kind = EDGE_COLLECTION if spec.get("type") in (EDGE_COLLECTION, "edge") else DOCUMENT_COLLECTION
        if spec.get("computedValues"):
            raise ArangoError(10, "'computedValues' is not implemented by the ArangoDB test server")
        collection = Collection(
            name,
            store.new_id(),
            store.clock,
            wait_for_sync=spec.get("waitForSync") is True,
            key_generator=KeyGenerator.from_options(spec.get("keyOptions")),
            is_system=is_system,
            type=kind,
            schema=parse_schema(spec.get("schema")),
            cache_enabled=spec.get("cacheEnabled") is True,
            extended_names=store.extended_names,
        )
        self.collections[name] = collection
        return collection

    def rename_collection(self, collection: Collection, new_name: t.Any, *, extended_names: bool) -> None:
        """``PUT /_api/collection/{c}/rename`` in ``methods::Collections::rename``'s order.

        Documents get new ``_id`` values; edges elsewhere that point at the
        old name keep pointing at it, as in ArangoDB.
        """
        if not isinstance(new_name, str):
            raise ArangoError(1208, "name is empty")
        if not new_name:
            raise ArangoError(10, "<name> must be non-empty")
        if new_name == collection.name:
            return
        if collection.is_system:
            raise ArangoError(11)
        if new_name.startswith("_"):
            raise ArangoError(
                1208, "a system collection shall not be renamed to a non-system collection name or vice versa"
            )
        error = name_error("collection", new_name, extended=extended_names)
        if error is not None:
            raise error
        if new_name in self.collections:
            raise ArangoError(1207)
        del self.collections[collection.name]
        collection.name = new_name
        collection.documents = {
            key: {**document, "_id": f"{new_name}/{key}"} for key, document in collection.documents.items()
        }
        self.collections[new_name] = collection

    def drop_collection(self, name: str, *, is_system: bool) -> Collection:
        """Drop a collection; system collections need ``isSystem=true`` (403/11)."""
        collection = self.collection(name)
        if collection.is_system and not is_system:
            raise ArangoError(11, "cannot drop system collection without isSystem=true")
        del self.collections[collection.name]
        return collection

    def snapshot(self) -> dict[str, t.Any]:
        """A JSON-able copy of the database for the state file."""
        return {
            "id": self.id,
            "collections": {name: c.snapshot() for name, c in self.collections.items()},
        }

    @classmethod
    def restore(cls, name: str, data: dict[str, t.Any], clock: RevisionClock, *, extended_names: bool) -> Database:
        """Rebuild a database from :meth:`snapshot` output."""
        database = cls(name, data["id"])
        for cname, cdata in data["collections"].items():
            database.collections[cname] = Collection.restore(cname, cdata, clock, extended_names=extended_names)
        return database


class Store:
    """Every database of one server.

    :attr:`lock` guards all of it; hold it for the whole of a request.
    """

    def __init__(self, *, extended_names: bool = True) -> None:
        self.lock = threading.RLock()
        self.extended_names = extended_names
        self.clock = RevisionClock()
        self._ids = itertools.count(1)
        self.databases: dict[str, Database] = {}
        self.reset()

    def reset(self) -> None:
        """Drop every database and start over with an empty ``_system``."""
        self.databases = {}
        self.create_database("_system", check=False)

    def new_id(self) -> int:
        """A server-wide unique numeric id for a database or collection."""
        return next(self._ids)

    def database(self, name: str) -> Database:
        """A database by name, or 404/1228."""
        found = self.databases.get(name)
        if found is None:
            raise ArangoError(1228)
        return found

    def create_database(self, name: t.Any, *, check: bool = True) -> Database:
        """Create a database with its default system collections."""
        if check and not is_valid_database_name(name, extended=self.extended_names):
            raise ArangoError(1229)
        if name in self.databases:
            raise ArangoError(1207, f"duplicate database name '{name}'")
        database = Database(name, self.new_id())
        system = SYSTEM_COLLECTIONS
        if name == "_system":
            system += SYSTEM_DATABASE_COLLECTIONS
        for collection in system:
            database.create_collection(self, {"name": collection, "isSystem": True})
        self.databases[name] = database
        return database

    def drop_database(self, name: str) -> None:
        """Drop a database; ``_system`` cannot be dropped (403/11)."""
        if name == "_system":
            raise ArangoError(11, "cannot drop the _system database")
        self.database(name)
        del self.databases[name]

    def sweep_expired(self, now: float) -> int:
        """One TTL background run over every collection; returns removals."""
        removed = 0
        for database in self.databases.values():
            for collection in database.collections.values():
                count = collection.sweep_expired(now)
                if count:
                    logger.debug(
                        "TTL removed %s documents from %s/%s",
                        count,
                        database.name,
                        collection.name,
                    )
                removed += count
        return removed

    def snapshot(self) -> dict[str, t.Any]:
        """A JSON-able copy of everything for the state file."""
        return {
            "clock": self.clock.last,
            "nextId": next(self._ids),
            "databases": {name: db.snapshot() for name, db in self.databases.items()},
        }

    @classmethod
    def restore(cls, data: dict[str, t.Any], *, extended_names: bool = True) -> Store:
        """Rebuild a store from :meth:`snapshot` output."""
        store = cls(extended_names=extended_names)
        store.clock.last = data["clock"]
        store._ids = itertools.count(data["nextId"])
        store.databases = {
            name: Database.restore(name, db, store.clock, extended_names=extended_names)
            for name, db in data["databases"].items()
        }
        return store
