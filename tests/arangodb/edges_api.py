"""``GET /_api/edges/{collection}``: the edges of one vertex (``RestEdgesHandler``, 3.12).

ArangoDB answers it with an AQL query over the edge index
(``FOR e IN @@collection FILTER e._from == @vertex ... RETURN e``), so the
answer carries that query's ``stats``.
"""

from __future__ import annotations

import time
import typing as t

from .aql import QueryResult
from .errors import ArangoError
from .protocol import Call, Response, ok

if t.TYPE_CHECKING:
    from .storage import Collection

#: ``direction`` values and the edge attributes they match.
DIRECTIONS = {
    "": ("_from", "_to"),
    "any": ("_from", "_to"),
    "out": ("_from",),
    "outbound": ("_from",),
    "in": ("_to",),
    "inbound": ("_to",),
}


def handle(call: Call) -> Response:
    """``GET /_api/edges/<collection>?vertex=<id>[&direction=...]``; POST with an array of ids."""
    request = call.request
    if request.method not in ("GET", "POST"):
        raise ArangoError(9, "ILLEGAL /_api/edges", status=501)
    usage = "?vertex=<vertex-id>&direction=<direction>" if request.method == "GET" else "?direction=<direction>"
    usage = f"expected {request.method} /_api/edges/<collection-identifier>{usage}"
    if len(call.rest) != 1:
        raise ArangoError(400, usage)
    vertices = _vertices(call, usage)
    collection = call.database.collection(call.rest[0])
    if not collection.is_edge:
        raise ArangoError(1218)
    direction = request.params.get("direction", "")
    attributes = DIRECTIONS.get(direction)
    if attributes is None:
        raise ArangoError(400, f"<direction> must by any, in, or out, not: {direction}")
    if vertices is None:
        vertex = request.params.get("vertex", "")
        if not vertex:
            raise ArangoError(1205, "illegal document handle")
        started = time.perf_counter()
        edges = _edges(collection, attributes, {vertex})
        return ok(200, {"edges": edges}, stats=QueryResult(edges, scanned_index=len(edges)).stats(started))
    # The undocumented multi-vertex form: each edge once, no stats.
    return ok(200, {"edges": _edges(collection, attributes, set(vertices))})


def _vertices(call: Call, usage: str) -> list[str] | None:
    if call.request.method == "GET":
        return None
    try:
        body = call.request.json()
    except ArangoError:
        raise ArangoError(400, usage) from None
    if body is None:
        raise ArangoError(400, usage)
    if not isinstance(body, list) or not all(isinstance(vertex, str) for vertex in body):
        raise ArangoError(400, "Expected an array of vertex _id's in body parameter")
    return body


def _edges(collection: Collection, attributes: tuple[str, ...], vertices: set[str]) -> list[dict[str, t.Any]]:
    return [doc for doc in collection.documents.values() if any(doc[name] in vertices for name in attributes)]
