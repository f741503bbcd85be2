"""The ArangoDB session store: the store, its HTTP client, its response reader, its queries.

``realtime.stores.arango`` keeps offering what it offered as a single module.
"""

from __future__ import annotations

from .store import (
    DOCUMENT_NOT_FOUND,
    HTTP_CLIENTS,
    STORE_FAILURES,
    TTL_INDEX,
    UID_INDEX,
    ArangoSessionStore,
    connect,
    describe_failure,
    ensure_collection,
    make_http_client,
)

__all__ = [
    "DOCUMENT_NOT_FOUND",
    "HTTP_CLIENTS",
    "STORE_FAILURES",
    "TTL_INDEX",
    "UID_INDEX",
    "ArangoSessionStore",
    "connect",
    "describe_failure",
    "ensure_collection",
    "make_http_client",
]
