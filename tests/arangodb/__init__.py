"""An in-memory ArangoDB-compatible HTTP server for tests.

ArangoDB cannot be installed here, and mocking python-arango would test
nothing, so tests talk real HTTP to this server through real python-arango.
It implements the subset described in ``shared/docs/arangodb-http-subset.md``
(routing, basic/JWT auth, databases, collections, documents incl. batch
operations, persistent and TTL indexes, the app's fixed AQL queries) and the
3.12 document and collection API around it (edge collections, bulk import,
``versionAttribute``, collection properties and rename, extended names), and
adds fault injection and request counters under ``/_test/`` (see :mod:`.admin`).
Its fidelity tests are in ``tests/arangodb_fidelity/``.

Run it with ``python -m tests.arangodb --port 0``; use it from pytest through
the fixtures in :mod:`tests.arangodb.fixtures`.

Modules: ``errors`` (error table), ``keys`` (keys, names, revisions),
``values`` (AQL value order), ``ttl``, ``indexes``, ``storage`` (databases,
collections, documents; pure), ``aql`` (fixed queries), ``auth``,
``protocol`` (request/response), ``api``, ``document_api``, ``import_api``
and ``edges_api`` (routing and endpoints), ``faults`` and ``admin`` (``/_test/``), ``server`` (sockets,
threads, state file), ``__main__`` (command line), ``fixtures`` (pytest).
"""

from __future__ import annotations

from .server import ArangoTestServer

__all__ = ["ArangoTestServer"]
