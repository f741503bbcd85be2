"""Routing and the non-document endpoints of the ArangoDB HTTP API subset.

``Api.handle`` turns a :class:`~.protocol.Request` into a
:class:`~.protocol.Response` under the store lock. URLs are
``/_db/{db}/_api/...`` (bare ``/_api/...`` means ``_system``) plus
``/_open/auth``. Authentication comes first (401/11), then the database
(404/1228 for superusers, 401/11 for users without rights on that name).
"""

from __future__ import annotations

import logging
import time
import typing as t

from . import document_api, edges_api, import_api
from .aql import QueryEngine
from .auth import Authenticator, unauthorized
from .errors import ArangoError
from .indexes import parse_definition
from .protocol import Call, Request, Response, error_response, ok
from .storage import Store

logger = logging.getLogger(__name__)

#: The version this server claims to be (python-arango only reads it).
VERSION = "3.12.6"

Handler = t.Callable[[Call], Response]


def split_route(parts: list[str]) -> tuple[str, list[str]]:
    """Database name and the remaining segments of a decoded path."""
    if parts and parts[0] == "_db":
        return (parts[1] if len(parts) > 1 else ""), parts[2:]
    return "_system", parts


def _not_found(call_or_request: Call | Request) -> ArangoError:
    request = call_or_request.request if isinstance(call_or_request, Call) else call_or_request
    return ArangoError(404, f"unknown path '{request.path}'")


def _require_system(call: Call) -> None:
    if not call.database.is_system:
        raise ArangoError(1230)


def _require_superuser(call: Call) -> None:
    if not call.user.superuser:
        raise ArangoError(11, "insufficient permissions")


class Api:
    """The HTTP API over one :class:`~.storage.Store`."""

    def __init__(self, store: Store, auth: Authenticator, engine: QueryEngine) -> None:
        self.store = store
        self.auth = auth
        self.engine = engine
        self._routes: dict[tuple[str, str], Handler] = {
            ("_api", "version"): self._version,
            ("_admin", "version"): self._version,
            ("_api", "database"): self._database,
            ("_api", "collection"): self._collection,
            ("_api", "document"): document_api.handle,
            ("_api", "import"): import_api.handle,
            ("_api", "edges"): edges_api.handle,
            ("_api", "index"): self._index,
            ("_api", "cursor"): self._cursor,
        }

    def classify(self, request: Request) -> tuple[str, bool]:
        """Route kind (see ``faults.KINDS``) and whether the request writes."""
        try:
            _, route = split_route(request.parts)
        except ArangoError:
            return "other", False
        method = request.method
        mutating = method in ("POST", "PUT", "PATCH", "DELETE")
        resource = route[1] if len(route) > 1 and route[0] == "_api" else None
        if resource == "import":
            return "document_write", mutating
        if resource == "edges":
            return "document_read", False
        if resource == "document":
            if method in ("GET", "HEAD") or (method == "PUT" and "onlyget" in request.params):
                return "document_read", False
            return "document_write", mutating
        if resource == "cursor":
            body = request.json_or_none()
            query = body.get("query") if isinstance(body, dict) else None
            return "cursor", method == "POST" and self.engine.is_write(query)
        if resource == "index":
            return "index", mutating
        if route[:2] == ["_open", "auth"]:
            return "other", False  # a login reads credentials, it changes nothing
        return "other", mutating

    def handle(self, request: Request) -> Response:
        """Answer one request; ArangoDB errors become error bodies."""
        try:
            with self.store.lock:
                return self._dispatch(request)
        except ArangoError as error:
            return error_response(error, request)

    def _dispatch(self, request: Request) -> Response:
        db_name, route = split_route(request.parts)
        if route[:2] == ["_open", "auth"]:
            return self._login(request)
        user = self.auth.authenticate(request.header("Authorization"))
        if not user.can_use(db_name):
            raise unauthorized()
        database = self.store.database(db_name)
        handler = self._routes.get((route[0], route[1])) if len(route) > 1 else None
        if handler is None:
            raise _not_found(request)
        return handler(Call(request, database, user, route[2:]))

    # -- authentication, version -----------------------------------------

    def _login(self, request: Request) -> Response:
        if request.method != "POST":
            raise ArangoError(405)
        try:
            body = request.json()
        except ArangoError:
            raise ArangoError(400, "invalid JSON") from None
        return Response(200, self.auth.login(body))

    def _version(self, call: Call) -> Response:
        if call.request.method != "GET" or call.rest:
            raise ArangoError(405)
        body: dict[str, t.Any] = {"server": "arango", "version": VERSION, "license": "community"}
        if call.request.flag("details", False):
            body["details"] = {
                "mode": "server",
                "role": "SINGLE",
                "architecture": "64bit",
                "engine": "rocksdb",
                "test-server": "tests.arangodb (in-memory, not a real ArangoDB)",
            }
        return Response(200, body)

    # -- databases ---------------------------------------------------------

    def _database(self, call: Call) -> Response:
        method, rest = call.request.method, call.rest
        if method == "GET" and rest == ["current"]:
            database = call.database
            return ok(
                200,
                result={
                    "name": database.name,
                    "id": str(database.id),
                    "path": "none",
                    "isSystem": database.is_system,
                },
            )
        if method == "GET" and rest == ["user"]:
            names = [n for n in self.store.databases if call.user.can_use(n)]
            return ok(200, result=sorted(names))
        if method == "GET" and not rest:
            _require_system(call)
            return ok(200, result=sorted(self.store.databases))
        if method == "POST" and not rest:
            _require_system(call)
            _require_superuser(call)
            body = call.request.json()
            if not isinstance(body, dict):
                raise ArangoError(10, "expecting a JSON object with 'name'")
            database = self.store.create_database(body.get("name"))
            self.auth.grant(body.get("users"), database.name)
            return ok(201, result=True)
        if method == "DELETE" and len(rest) == 1:
            _require_system(call)
            _require_superuser(call)
            self.store.drop_database(rest[0])
            self.auth.revoke_database(rest[0])
            return ok(200, result=True)
        if method in ("GET", "POST", "DELETE"):
            raise _not_found(call)
        raise ArangoError(405)

    # -- collections -----------------------------------------------------

    def _collection(self, call: Call) -> Response:
        method, rest = call.request.method, call.rest
        database = call.database
        if not rest:
            if method == "GET":
                exclude_system = call.request.flag("excludeSystem", False)
                result = [c.info() for c in database.collections.values() if not (exclude_system and c.is_system)]
                return ok(200, result=result)
            if method == "POST":
                collection = database.create_collection(self.store, call.request.json())
                return ok(200, collection.properties())
            raise ArangoError(405)

        collection = database.collection(rest[0])
        action = rest[1] if len(rest) > 1 else None
        if len(rest) > 2:
            raise _not_found(call)
        if method == "GET" and action is None:
            return ok(200, collection.info())
        if method == "GET" and action == "properties":
            return ok(200, collection.properties())
        if method == "GET" and action == "count":
            return ok(200, collection.properties(), count=len(collection.documents))
        if method == "PUT" and action == "truncate":
            collection.truncate()
            return ok(200, collection.info())
        if method == "PUT" and action == "properties":
            collection.configure(call.request.json())
            return ok(200, collection.properties())
        if method == "PUT" and action == "rename":
            body = call.request.json()
            new_name = body.get("name") if isinstance(body, dict) else None
            database.rename_collection(collection, new_name, extended_names=self.store.extended_names)
            return ok(200, collection.info())
        if method == "DELETE" and action is None:
            database.drop_collection(collection.name, is_system=call.request.flag("isSystem", False))
            return ok(200, id=str(collection.id))
        if method in ("GET", "PUT"):
            raise ArangoError(
                400,
                f"'{method} /_api/collection/<name>/{action}' is not implemented by the ArangoDB test server",
            )
        raise ArangoError(405)

    # -- indexes -----------------------------------------------------------

    def _index(self, call: Call) -> Response:
        method, rest = call.request.method, call.rest
        database = call.database
        if not rest:
            name = call.request.params.get("collection")
            if not name:
                raise ArangoError(400, "expecting /_api/index?collection=<collection>")
            collection = database.collection(name)
            if method == "GET":
                indexes = [collection.describe_index(i) for i in collection.all_indexes()]
                return ok(200, indexes=indexes, identifiers={i["id"]: i for i in indexes})
            if method == "POST":
                index, created = collection.ensure_index(
                    parse_definition(call.request.json(), extended_names=self.store.extended_names)
                )
                status = 201 if created else 200
                description = collection.describe_index(index, with_estimate=False)
                return ok(status, description, isNewlyCreated=created)
            raise ArangoError(405)
        if len(rest) != 2:
            raise ArangoError(1212, "expecting /_api/index/<collection>/<index-id>")
        collection = database.collection(rest[0])
        if method == "GET":
            return ok(200, collection.describe_index(collection.find_index(rest[1])))
        if method == "DELETE":
            index = collection.drop_index(rest[1])
            return ok(200, id=f"{collection.name}/{index.id}")
        raise ArangoError(405)

    # -- AQL cursors -----------------------------------------------------

    def _cursor(self, call: Call) -> Response:
        method, rest = call.request.method, call.rest
        if rest:
            # Results always fit into the first batch (hasMore is false), so
            # no cursor ever stays open to be read on or deleted.
            if method in ("POST", "PUT", "DELETE"):
                raise ArangoError(1600)
            raise ArangoError(405)
        if method != "POST":
            raise ArangoError(405)
        body = call.request.json()
        if not isinstance(body, dict):
            raise ArangoError(10, "expecting a JSON object with 'query'")
        started = time.perf_counter()
        outcome = self.engine.execute(call.database, body.get("query"), body.get("bindVars"))
        extra: dict[str, t.Any] = {}
        if body.get("count"):
            extra["count"] = len(outcome.result)
        return ok(
            201,
            result=outcome.result,
            hasMore=False,
            cached=False,
            extra={"warnings": [], "stats": outcome.stats(started)},
            **extra,
        )
