"""The AQL this server understands: exactly the app's fixed query strings.

There is no AQL parser. ``realtime/stores/arango/aql.py`` owns the only queries the
session store sends; each is matched character for character and evaluated by
a Python function with AQL's semantics (type-aware ``==``/``<=``/``SORT``,
``RETURN s`` gives the whole document, ``REMOVE ... RETURN OLD._key``).
Any other query string gets 400/1501, so a new or edited query fails loudly
until it is implemented here too.

The module is loaded from its file rather than imported as
``realtime.stores.arango.aql`` so that starting the server never runs
``realtime/__init__.py`` (which pulls in Flask and Socket.IO) and stays fast.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import time
import typing as t

from . import values
from .errors import ArangoError

if t.TYPE_CHECKING:
    from .storage import Collection, Database

#: Where the app keeps its queries, relative to the repository root.
QUERIES_FILE = pathlib.Path(__file__).resolve().parents[2] / "realtime" / "stores" / "arango" / "aql.py"


@dataclasses.dataclass
class QueryResult:
    """What one query produced, for the cursor response."""

    result: list[t.Any]
    writes_executed: int = 0
    scanned: int = 0
    scanned_index: int = 0

    def stats(self, started: float) -> dict[str, t.Any]:
        """``extra.stats`` as ArangoDB reports it."""
        return {
            "writesExecuted": self.writes_executed,
            "writesIgnored": 0,
            "scannedFull": self.scanned,
            "scannedIndex": self.scanned_index,
            "cursorsCreated": 0,
            "cursorsRearmed": 0,
            "cacheHits": 0,
            "cacheMisses": 0,
            "filtered": max(self.scanned - len(self.result), 0),
            "httpRequests": 0,
            "executionTime": time.perf_counter() - started,
            "peakMemoryUsage": 0,
            "intermediateCommits": 0,
        }


Runner = t.Callable[["Collection", dict[str, t.Any]], QueryResult]


@dataclasses.dataclass(frozen=True)
class FixedQuery:
    """One supported query: its bind parameters and its evaluation."""

    name: str
    params: frozenset[str]
    run: Runner
    writes: bool = False


def _sessions_of_user(collection: Collection, bind: dict[str, t.Any]) -> QueryResult:
    # FOR s IN @@collection FILTER s.uid == @uid RETURN s
    uid = bind["uid"]
    documents = list(collection.documents.values())
    found = [doc for doc in documents if values.equal(doc.get("uid"), uid)]
    return QueryResult(found, scanned=len(documents))


def _list_sessions(collection: Collection, bind: dict[str, t.Any]) -> QueryResult:
    # FOR s IN @@collection SORT s.created_at DESC LIMIT @limit RETURN s
    limit = bind["limit"]
    if not values.is_number(limit) or limit < 0 or limit != int(limit):
        raise ArangoError(1553, "bind parameter 'limit' has an invalid value or type")
    documents = list(collection.documents.values())
    ordered = sorted(documents, key=lambda doc: values.sort_key(doc.get("created_at")), reverse=True)
    return QueryResult(ordered[: int(limit)], scanned=len(documents))


def _purge_expired(collection: Collection, bind: dict[str, t.Any]) -> QueryResult:
    # FOR s IN @@collection FILTER IS_NUMBER(s.expires_at) && s.expires_at <= @now
    #   REMOVE s IN @@collection RETURN OLD._key
    now = bind["now"]
    documents = list(collection.documents.values())
    keys = [
        doc["_key"]
        for doc in documents
        if values.is_number(doc.get("expires_at")) and values.compare(doc["expires_at"], now) <= 0
    ]
    for key in keys:
        del collection.documents[key]
    return QueryResult(keys, writes_executed=len(keys), scanned=len(documents))


#: Constant name in realtime/stores/arango/aql.py -> implementation.
_IMPLEMENTATIONS = {
    "SESSIONS_OF_USER": FixedQuery("SESSIONS_OF_USER", frozenset({"@collection", "uid"}), _sessions_of_user),
    "LIST_SESSIONS": FixedQuery("LIST_SESSIONS", frozenset({"@collection", "limit"}), _list_sessions),
    "PURGE_EXPIRED": FixedQuery("PURGE_EXPIRED", frozenset({"@collection", "now"}), _purge_expired, writes=True),
}


def load_queries(path: pathlib.Path = QUERIES_FILE) -> dict[str, FixedQuery]:
    """Map each query string of the app's module to its implementation.

    Constants of the module without an implementation here are skipped, so
    that the server still starts; the fidelity tests check that every string
    in ``ALL`` is supported.
    """
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location("_realtime_fixed_aql", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        getattr(module, name): query
        for name, query in _IMPLEMENTATIONS.items()
        if isinstance(getattr(module, name, None), str)
    }


class QueryEngine:
    """Runs the fixed queries against a database."""

    def __init__(self, queries: dict[str, FixedQuery] | None = None) -> None:
        self.queries = load_queries() if queries is None else queries

    def is_write(self, query: t.Any) -> bool:
        """Whether ``query`` modifies data (fault injection treats it as a write)."""
        found = self.queries.get(query) if isinstance(query, str) else None
        return bool(found and found.writes)

    def execute(self, database: Database, query: t.Any, bind_vars: t.Any) -> QueryResult:
        """Run ``query`` with ``bind_vars``.

        :raise ArangoError: 400/1501 for a query that is not one of the fixed
            strings, 400/155x for bind parameter problems, 404/1203 for a
            missing collection.
        """
        if not isinstance(query, str) or not query.strip():
            raise ArangoError(1501, "query is empty")
        fixed = self.queries.get(query)
        if fixed is None:
            raise ArangoError(
                1501,
                "AQL: query not supported by the ArangoDB test server, which accepts"
                " only the fixed query strings of realtime/stores/arango/aql.py (while parsing)",
            )
        bind = bind_vars if bind_vars is not None else {}
        if not isinstance(bind, dict):
            raise ArangoError(10, "bindVars must be an object")
        for name in sorted(fixed.params - bind.keys()):
            raise ArangoError(1551, f"no value specified for declared bind parameter '{name}' (while parsing)")
        for name in sorted(bind.keys() - fixed.params):
            raise ArangoError(1552, f"bind parameter '{name}' was not declared in the query (while parsing)")
        if not isinstance(bind["@collection"], str):
            raise ArangoError(1553, "bind parameter '@collection' has an invalid value or type")
        collection = database.collection(bind["@collection"])
        return fixed.run(collection, bind)
