"""Session records in ArangoDB, through python-arango and nothing else."""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
from arango import ArangoClient
from arango.database import StandardDatabase
from arango.exceptions import ArangoError, DocumentUpdateError
from arango.http import DefaultHTTPClient

from ...errors import ConfigError, StoreError
from ...sessions import SessionRecord, SessionStore
from . import aql
from .client import ArangoTLSError, PooledHTTPClient

#: The TTL index that lets ArangoDB delete expired records by itself. It runs
#: only every 30 s (``--ttl.frequency``), so reads still check expiry.
TTL_INDEX = {"type": "ttl", "fields": ["expires_at"], "expireAfter": 0, "name": "realtime_expiry"}
#: Finds a user's sessions for ``revoke_user`` without a full scan.
UID_INDEX = {"type": "persistent", "fields": ["uid"], "sparse": True, "name": "realtime_uid"}

#: ArangoDB's errorNum for "document not found".
DOCUMENT_NOT_FOUND = 1202

#: Failures of the database or of the way to it. Anything else is a bug and
#: is left to propagate (the socket boundary still refuses the connection).
STORE_FAILURES = (ArangoError, requests.RequestException, OSError, ValueError)


def describe_failure(exc: BaseException) -> str:
    """A log-safe description of a driver failure.

    Driver and ``requests`` messages can contain request URLs, and document
    URLs contain the session id, so only the class, status and server error
    number are kept.
    """
    name = type(exc).__name__
    http_code = getattr(exc, "http_code", None)
    if http_code is not None:
        return f"{name} (HTTP {http_code}, ArangoDB error {getattr(exc, 'error_code', None)})"
    if isinstance(exc, ArangoTLSError):
        return f"{name} ({exc})"
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return f"{name} (no answer within the timeout)"
    if isinstance(exc, (requests.ConnectionError, ConnectionError)):
        return f"{name} (cannot connect)"
    return name


def connect(
    url: str,
    db_name: str,
    username: str,
    password: str,
    *,
    timeout: float = 2.0,
    verify: bool | str = True,
    pool_size: int = 32,
    http_client: str = "lean",
) -> tuple[ArangoClient, StandardDatabase]:
    """Build a client whose every request gives up after ``timeout`` seconds.

    python-arango's defaults retry a failing GET three times with back-off and
    try each host three times: several seconds per failed read. A connect
    handler must answer quickly instead, so both are turned off; the client
    simply refuses and tries again later.
    """
    client = ArangoClient(
        hosts=url,
        host_resolver="roundrobin",
        resolver_max_tries=len(url.split(",")),
        http_client=make_http_client(http_client, timeout, pool_size),
        verify_override=verify,
    )
    return client, client.db(db_name, username=username, password=password)


HTTP_CLIENTS = ("lean", "requests")


def make_http_client(name: str, timeout: float, pool_size: int) -> PooledHTTPClient | DefaultHTTPClient:
    """The python-arango ``HTTPClient`` that ``ARANGO_HTTP_CLIENT`` names."""
    if name == "lean":
        return PooledHTTPClient(request_timeout=timeout, pool_size=pool_size)
    if name == "requests":
        return DefaultHTTPClient(request_timeout=timeout, retry_attempts=0, pool_connections=4, pool_maxsize=pool_size)
    raise ConfigError(f"ARANGO_HTTP_CLIENT={name!r} is not known. Use one of: {', '.join(HTTP_CLIENTS)}.")


class ArangoSessionStore(SessionStore):
    """Session records as documents ``{_key: sid, uid, created_at, expires_at}``."""

    kind = "arangodb"

    def __init__(
        self,
        client: ArangoClient,
        db: StandardDatabase,
        *,
        collection: str = "sessions",
        username: str = "root",
        password: str = "",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self.client = client
        self.db = db
        self.collection_name = collection
        self.collection = db.collection(collection)
        # Kept only to create the database in init_schema (needs _system).
        self._credentials = (username, password)

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], **kwargs: t.Any) -> ArangoSessionStore:
        client, db = connect(
            config["ARANGO_URL"],
            config["ARANGO_DB"],
            config["ARANGO_USERNAME"],
            config["ARANGO_PASSWORD"],
            timeout=float(config["ARANGO_TIMEOUT"]),
            verify=config.get("ARANGO_VERIFY", True),
            http_client=str(config.get("ARANGO_HTTP_CLIENT", "lean")).strip().lower(),
        )
        return cls(
            client,
            db,
            collection=config["REALTIME_SESSION_COLLECTION"],
            username=config["ARANGO_USERNAME"],
            password=config["ARANGO_PASSWORD"],
            **kwargs,
        )

    @contextmanager
    def _failures(self, action: str) -> Iterator[None]:
        try:
            yield
        except STORE_FAILURES as exc:
            raise StoreError(f"ArangoDB could not {action}: {describe_failure(exc)}") from exc

    def describe(self) -> str:
        hosts = ", ".join(h.split("@")[-1] for h in self.client.hosts)
        return f"ArangoDB at {hosts}, database {self.db.name!r}, collection {self.collection_name!r}"

    # -- I/O ---------------------------------------------------------------

    def _load(self, sid: str) -> SessionRecord | None:
        with self._failures("read a session"):
            doc = self.collection.get(sid)
        return None if doc is None else SessionRecord.from_document(doc)

    def _load_many(self, sids: list[str]) -> list[SessionRecord]:
        with self._failures("read sessions"):
            docs = self.collection.get_many(sids)
        return self._records(docs)

    def _of_user(self, uid: str) -> list[SessionRecord]:
        return self._query(aql.SESSIONS_OF_USER, uid=uid)

    def _recent(self, limit: int) -> list[SessionRecord]:
        return self._query(aql.LIST_SESSIONS, limit=int(limit))

    def _save(self, record: SessionRecord) -> None:
        with self._failures("write a session"):
            # overwrite_mode, not the legacy overwrite flag: ArangoDB 4 removed it.
            self.collection.insert(record.to_document(), overwrite_mode="replace", silent=True)

    def _delete(self, sid: str) -> bool:
        with self._failures("delete a session"):
            return bool(self.collection.delete(sid, ignore_missing=True, silent=True))

    def _extend(self, sid: str, expires_at: float) -> bool:
        with self._failures("extend a session"):
            try:
                # A partial update (PATCH): fails on a missing document
                # instead of creating it, and leaves uid untouched.
                self.collection.update({"_key": sid, "expires_at": expires_at}, silent=True)
            except DocumentUpdateError as exc:
                if exc.error_code == DOCUMENT_NOT_FOUND:
                    return False
                raise
        return True

    def _purge_expired(self, now: float) -> int:
        with self._failures("purge expired sessions"):
            cursor = self.db.aql.execute(aql.PURGE_EXPIRED, bind_vars={"@collection": self.collection_name, "now": now})
            return len(list(cursor))

    def _query(self, query: str, **bind_vars: t.Any) -> list[SessionRecord]:
        with self._failures("query sessions"):
            cursor = self.db.aql.execute(query, bind_vars={"@collection": self.collection_name, **bind_vars})
            docs = list(cursor)
        return self._records(docs)

    @staticmethod
    def _records(docs: t.Iterable[t.Mapping[str, t.Any]]) -> list[SessionRecord]:
        records = (SessionRecord.from_document(doc) for doc in docs)
        return [r for r in records if r is not None]

    def ping(self) -> None:
        with self._failures("answer a ping"):
            self.collection.count()

    def init_schema(self) -> list[str]:
        """Create the database, the collection and its indexes if missing."""
        created = []
        with self._failures("set up the schema"):
            sys_db = self.client.db("_system", username=self._credentials[0], password=self._credentials[1])
            if not sys_db.has_database(self.db.name):
                sys_db.create_database(self.db.name)
                created.append(f"database {self.db.name}")
            created += ensure_collection(self.db, self.collection_name, [TTL_INDEX, UID_INDEX])
        return created


def ensure_collection(db: StandardDatabase, name: str, indexes: t.Sequence[t.Mapping[str, t.Any]] = ()) -> list[str]:
    """Create collection ``name`` and ``indexes`` if missing; report what was created."""
    created = []
    if not db.has_collection(name):
        db.create_collection(name)
        created.append(f"collection {name}")
    collection = db.collection(name)
    for index in indexes:
        if collection.add_index(dict(index)).get("isNewlyCreated"):
            created.append(f"{index['type']} index on {name}.{','.join(index['fields'])}")
    return created
