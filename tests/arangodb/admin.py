"""``/_test/``: the test-only control API (faults, counters, data reset).

No credentials are needed: this is not an ArangoDB API, the server is a
test tool bound to 127.0.0.1, and the control calls must keep working while
tests break authentication on purpose. Requests under ``/_test/`` are never
delayed, failed or counted.

======  ================  ==================================================
GET     /_test/faults     the fault plan in force
PUT     /_test/faults     replace the plan (body: ``FaultPlan`` fields)
DELETE  /_test/faults     clear every fault
GET     /_test/stats      request counters since start or the last reset
DELETE  /_test/stats      reset the counters
POST    /_test/reset      wipe all data (databases, users created later)
======  ================  ==================================================
"""

from __future__ import annotations

import typing as t

from .errors import ArangoError
from .faults import FaultPlan
from .protocol import Request, Response, error_response

if t.TYPE_CHECKING:
    from .server import ArangoTestServer


def handle(request: Request, server: ArangoTestServer) -> Response:
    """Answer a ``/_test/...`` request."""
    try:
        return _dispatch(request, server)
    except ArangoError as error:
        return error_response(error, request)


def _dispatch(request: Request, server: ArangoTestServer) -> Response:
    method, route = request.method, request.parts[1:]
    if route == ["faults"]:
        if method == "GET":
            return Response(200, server.faults.plan.to_json())
        if method in ("PUT", "POST"):
            plan = FaultPlan.from_json(request.json() or {})
            server.faults.set(plan)
            return Response(200, plan.to_json())
        if method == "DELETE":
            server.faults.clear()
            return Response(200, server.faults.plan.to_json())
    elif route == ["stats"]:
        if method == "GET":
            return Response(200, server.stats.snapshot())
        if method == "DELETE":
            server.stats.reset()
            return Response(200, server.stats.snapshot())
    elif route == ["reset"]:
        if method == "POST":
            server.reset_data()
            return Response(200, {"reset": True})
    else:
        raise ArangoError(404, f"unknown path '{request.path}'; see tests/arangodb/admin.py")
    raise ArangoError(405)
