"""Accounts of the reference app: username and password hash, in the same database as sessions."""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from realtime import SessionStore, StoreError
from realtime.stores.arango import STORE_FAILURES, ArangoSessionStore, describe_failure, ensure_collection
from realtime.stores.sqlite import SqliteSessionStore

#: Usernames double as uids and as ArangoDB keys, so they keep to a safe alphabet.
USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")

# Checked when the user does not exist, so a login takes as long either way
# and response times do not reveal which usernames exist.
_DUMMY_HASH = generate_password_hash("realtime-dummy-password")


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str

    @property
    def uid(self) -> str:
        return self.username


def normalize_username(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    name = raw.strip().lower()
    return name if USERNAME.fullmatch(name) else None


class UserStore(abc.ABC):
    def authenticate(self, username: object, password: object) -> User | None:
        """The user if the password matches, else ``None`` (same cost either way)."""
        name = normalize_username(username)
        user = self.get(name) if name else None
        if not isinstance(password, str):
            password = ""
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        return user if check_password_hash(user.password_hash, password) else None

    def set_password(self, username: str, password: str, *, create: bool = True, update: bool = False) -> bool:
        """Create the user, or update its password when ``update``; return whether it was created."""
        name = normalize_username(username)
        if name is None:
            raise ValueError("Usernames are 1-64 characters: lowercase letters, digits, '_', '.', '-'.")
        exists = self.get(name) is not None
        if exists and not update:
            raise ValueError(f"User {name!r} already exists. Pass --exist-ok to set its password instead.")
        self._put(User(name, generate_password_hash(password)))
        return not exists

    @abc.abstractmethod
    def get(self, username: str) -> User | None: ...

    @abc.abstractmethod
    def _put(self, user: User) -> None: ...

    def init_schema(self) -> list[str]:
        return []


class ArangoUserStore(UserStore):
    def __init__(self, sessions: ArangoSessionStore, collection: str = "users") -> None:
        self.db = sessions.db
        self.name = collection
        self.collection = self.db.collection(collection)

    def get(self, username: str) -> User | None:
        try:
            doc = self.collection.get(username)
        except STORE_FAILURES as exc:
            raise StoreError(f"ArangoDB could not read a user: {describe_failure(exc)}") from exc
        if not doc or not isinstance(doc.get("password_hash"), str):
            return None
        return User(doc["_key"], doc["password_hash"])

    def _put(self, user: User) -> None:
        try:
            self.collection.insert(
                {"_key": user.username, "username": user.username, "password_hash": user.password_hash},
                overwrite_mode="replace",
                silent=True,
            )
        except STORE_FAILURES as exc:
            raise StoreError(f"ArangoDB could not write a user: {describe_failure(exc)}") from exc

    def init_schema(self) -> list[str]:
        try:
            return ensure_collection(self.db, self.name)
        except STORE_FAILURES as exc:
            raise StoreError(f"ArangoDB could not create the users collection: {describe_failure(exc)}") from exc


class SqliteUserStore(UserStore):
    def __init__(self, sessions: SqliteSessionStore) -> None:
        self.database = sessions.database
        self.database.executescript(
            "CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL);"
        )

    def get(self, username: str) -> User | None:
        with self.database.cursor("read a user") as cur:
            row = cur.execute("SELECT username, password_hash FROM users WHERE username = ?", (username,)).fetchone()
        return None if row is None else User(*row)

    def _put(self, user: User) -> None:
        with self.database.cursor("write a user") as cur:
            cur.execute(
                "INSERT OR REPLACE INTO users (username, password_hash) VALUES (?, ?)",
                (user.username, user.password_hash),
            )


def user_store_for(sessions: SessionStore) -> UserStore:
    """Keep users next to the sessions, in whichever store is configured."""
    if isinstance(sessions, ArangoSessionStore):
        return ArangoUserStore(sessions)
    if isinstance(sessions, SqliteSessionStore):
        return SqliteUserStore(sessions)
    raise TypeError(f"The reference app has no user store for {type(sessions).__name__}.")
