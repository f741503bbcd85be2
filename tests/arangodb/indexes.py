"""Index definitions: validation, identity and the JSON ArangoDB returns.

Supported types are the primary index (implicit), ``persistent`` (``hash`` and
``skiplist`` are its old aliases) and ``ttl``. Other types (geo, fulltext,
inverted, mdi, vector, ...) are refused with 400/10 naming the test server, so
a test never silently relies on an index this server does not implement.
"""

from __future__ import annotations

import dataclasses
import typing as t

from .errors import ArangoError
from .keys import is_valid_index_name
from .values import is_number

_ALIASES = {"hash": "persistent", "skiplist": "persistent"}
_UNSUPPORTED = ("geo", "geo1", "geo2", "fulltext", "inverted", "zkd", "mdi", "mdi-prefixed", "vector")


@dataclasses.dataclass
class Index:
    """One index of a collection.

    :param id: numeric part of the index id (``<collection>/<id>``).
    :param name: None only for a requested definition that gave no name.
    :param options: type-specific attributes as ArangoDB names them
        (``expireAfter``; ``deduplicate``, ``estimates``, ``cacheEnabled``).
    """

    id: int
    type: str
    fields: list[str]
    name: str | None
    unique: bool
    sparse: bool
    options: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def expire_after(self) -> float:
        """Seconds a TTL index adds to the indexed timestamp."""
        return float(self.options["expireAfter"])

    def matches(self, requested: Index) -> bool:
        """Whether creating ``requested`` would return this existing index."""
        if requested.name is not None and requested.name != self.name:
            return False
        same = (
            self.type == requested.type
            and self.fields == requested.fields
            and self.unique == requested.unique
            and self.sparse == requested.sparse
        )
        if self.type == "ttl":
            return same and self.expire_after == requested.expire_after
        return same

    def describe(self, collection: str) -> dict[str, t.Any]:
        """The index as ``GET /_api/index`` lists it."""
        return {
            "id": f"{collection}/{self.id}",
            "type": self.type,
            "name": self.name,
            "fields": list(self.fields),
            "unique": self.unique,
            "sparse": self.sparse,
            **self.options,
        }

    def snapshot(self) -> dict[str, t.Any]:
        """A JSON-able copy for the state file."""
        return dataclasses.asdict(self)

    @classmethod
    def restore(cls, data: dict[str, t.Any]) -> Index:
        """Rebuild an index from :meth:`snapshot` output."""
        return cls(**data)


PRIMARY = Index(0, "primary", ["_key"], "primary", True, False)
#: The edge index of an edge collection as ``GET /_api/index`` lists it: two
#: indexes (ids 1 for ``_from``, 2 for ``_to``) fused into one entry with id 2.
EDGE = Index(2, "edge", ["_from", "_to"], "edge", False, False)


def parse_definition(definition: t.Any, *, extended_names: bool = True) -> Index:
    """Validate a ``POST /_api/index`` body; returns an index with id 0.

    :raise ArangoError: 400/10 for an invalid or unsupported definition,
        400/1208 for an invalid name.
    """
    if not isinstance(definition, dict):
        raise ArangoError(10, "index definition must be an object")
    kind = definition.get("type")
    if not isinstance(kind, str):
        raise ArangoError(10, "invalid index type")
    kind = _ALIASES.get(kind, kind)
    if kind in ("primary", "edge"):
        raise ArangoError(10, f"cannot create additional {kind} index")
    if kind in _UNSUPPORTED:
        raise ArangoError(
            10,
            f"index type '{kind}' is not implemented by the ArangoDB test server"
            " (tests/arangodb); only persistent and ttl indexes are",
        )
    if kind not in ("persistent", "ttl"):
        raise ArangoError(10, "invalid index type")

    fields = definition.get("fields")
    if (
        not isinstance(fields, list)
        or not fields
        or not all(isinstance(field, str) and field for field in fields)
        or len(set(fields)) != len(fields)
    ):
        raise ArangoError(10, "index fields must be a non-empty array of distinct attribute names")

    name = definition.get("name")
    if name is not None and not is_valid_index_name(name, extended=extended_names):
        raise ArangoError(1208, f"illegal index name '{name}'")

    if kind == "ttl":
        return _ttl_index(definition, fields, name)
    return Index(
        id=0,
        type="persistent",
        fields=fields,
        name=name,
        unique=bool(definition.get("unique", False)),
        sparse=bool(definition.get("sparse", False)),
        options={
            "deduplicate": bool(definition.get("deduplicate", True)),
            "estimates": bool(definition.get("estimates", True)),
            "cacheEnabled": bool(definition.get("cacheEnabled", False)),
        },
    )


def _ttl_index(definition: dict[str, t.Any], fields: list[str], name: str | None) -> Index:
    if len(fields) != 1:
        raise ArangoError(10, "ttl index must have exactly one attribute in 'fields'")
    expire_after = definition.get("expireAfter")
    if not is_number(expire_after) or expire_after < 0:
        raise ArangoError(10, "ttl index needs a numeric 'expireAfter' >= 0")
    if definition.get("unique"):
        raise ArangoError(10, "ttl index cannot be unique")
    # A TTL index is always sparse and never unique (RocksDBTtlIndex ctor).
    return Index(
        id=0,
        type="ttl",
        fields=fields,
        name=name,
        unique=False,
        sparse=True,
        options={"expireAfter": expire_after, "estimates": False},
    )
