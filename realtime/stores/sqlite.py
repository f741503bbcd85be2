"""Session records in a SQLite file: the embedded store for development.

Same contract as the ArangoDB store, so an app moves between them by setting
``ARANGO_URL``. It lives in one file of one machine, so it cannot be shared
between instances (a message queue together with it is a startup error).
"""

from __future__ import annotations

import sqlite3
import threading
import typing as t
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import StoreError
from ..sessions import SessionRecord, SessionStore, normalize_uid

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    uid TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_uid ON sessions (uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
"""

_COLUMNS = "sid, uid, created_at, expires_at"


class SqliteDatabase:
    """One SQLite connection shared by the process, serialised by a lock.

    Queries take microseconds, so a lock is simpler than a pool and works the
    same under threads and under eventlet (whose patched locks yield).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreError(
                f"Cannot open the embedded database {path}: {exc}. Check the instance folder is writable."
            ) from exc

    @contextmanager
    def cursor(self, action: str) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            try:
                yield self._conn.cursor()
            except sqlite3.Error as exc:
                raise StoreError(f"The embedded database could not {action}: {type(exc).__name__}") from exc

    def executescript(self, script: str) -> None:
        with self.cursor("set up the schema") as cur:
            cur.executescript(script)


def _record(row: tuple[t.Any, ...]) -> SessionRecord:
    sid, uid, created_at, expires_at = row
    return SessionRecord(sid=sid, uid=normalize_uid(uid), created_at=created_at, expires_at=expires_at)


class SqliteSessionStore(SessionStore):
    kind = "embedded"

    def __init__(self, database: SqliteDatabase, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self.database = database
        # Cheap and idempotent, so the embedded store needs no init-db step.
        self.database.executescript(SCHEMA)

    def describe(self) -> str:
        return f"embedded SQLite file {self.database.path}"

    def _load(self, sid: str) -> SessionRecord | None:
        with self.database.cursor("read a session") as cur:
            row = cur.execute(f"SELECT {_COLUMNS} FROM sessions WHERE sid = ?", (sid,)).fetchone()
        return None if row is None else _record(row)

    def _load_many(self, sids: list[str]) -> list[SessionRecord]:
        marks = ",".join("?" * len(sids))
        with self.database.cursor("read sessions") as cur:
            rows = cur.execute(f"SELECT {_COLUMNS} FROM sessions WHERE sid IN ({marks})", sids).fetchall()
        return [_record(row) for row in rows]

    def _of_user(self, uid: str) -> list[SessionRecord]:
        with self.database.cursor("query sessions") as cur:
            rows = cur.execute(f"SELECT {_COLUMNS} FROM sessions WHERE uid = ?", (uid,)).fetchall()
        return [_record(row) for row in rows]

    def _recent(self, limit: int) -> list[SessionRecord]:
        with self.database.cursor("query sessions") as cur:
            query = f"SELECT {_COLUMNS} FROM sessions ORDER BY created_at DESC LIMIT ?"
            rows = cur.execute(query, (int(limit),)).fetchall()
        return [_record(row) for row in rows]

    def _save(self, record: SessionRecord) -> None:
        with self.database.cursor("write a session") as cur:
            cur.execute(
                f"INSERT OR REPLACE INTO sessions ({_COLUMNS}) VALUES (?, ?, ?, ?)",
                (record.sid, record.uid, record.created_at, record.expires_at),
            )

    def _delete(self, sid: str) -> bool:
        with self.database.cursor("delete a session") as cur:
            return cur.execute("DELETE FROM sessions WHERE sid = ?", (sid,)).rowcount > 0

    def _extend(self, sid: str, expires_at: float) -> bool:
        with self.database.cursor("extend a session") as cur:
            return cur.execute("UPDATE sessions SET expires_at = ? WHERE sid = ?", (expires_at, sid)).rowcount > 0

    def _purge_expired(self, now: float) -> int:
        with self.database.cursor("purge expired sessions") as cur:
            return cur.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,)).rowcount

    def ping(self) -> None:
        with self.database.cursor("answer a ping") as cur:
            cur.execute("SELECT 1").fetchone()

    def init_schema(self) -> list[str]:
        return []
