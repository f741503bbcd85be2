"""Users, HTTP basic authentication and ArangoDB's JWT login.

Without configured credentials the server accepts every request, like
ArangoDB started with ``--server.authentication false``. With them, the
configured user is the superuser (root); users created through
``POST /_api/database`` with ``users`` get access to that database only.
Tokens are HS256 JWTs signed with a secret made at start-up, so a restart
invalidates them, as with ArangoDB without a JWT secret file (python-arango
then logs in again on the 401/11).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
import typing as t

from .errors import ArangoError

#: ``--server.session-timeout`` default: lifetime of a login token.
SESSION_TIMEOUT = 3600.0


def unauthorized() -> ArangoError:
    """The 401/11 every missing or bad credential gets (CommTask)."""
    return ArangoError(11, "not authorized to execute this request", status=401)


@dataclasses.dataclass
class User:
    """An account; a superuser may use every database."""

    name: str
    password: str
    superuser: bool = False
    active: bool = True
    databases: set[str] = dataclasses.field(default_factory=set)

    def can_use(self, database: str) -> bool:
        """Whether this user has rights on ``database`` (existing or not)."""
        return self.superuser or database in self.databases


#: Who a request runs as when authentication is off.
ANONYMOUS = User("root", "", superuser=True)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(payload: dict[str, t.Any], secret: bytes) -> str:
    """An HS256 JSON Web Token."""
    header = _b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{_b64encode(signature)}"


def decode_jwt(token: str, secret: bytes) -> dict[str, t.Any] | None:
    """The payload of a token signed with ``secret``, None if it is not one."""
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(secret, f"{header}.{body}".encode("ascii"), hashlib.sha256)
        if not hmac.compare_digest(_b64decode(signature), expected.digest()):
            return None
        payload = json.loads(_b64decode(body))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    return payload if isinstance(payload, dict) else None


class Authenticator:
    """Decides who a request is and which databases it may use.

    :param username: the superuser's name; with ``password`` None too,
        authentication is off.
    :param password: the superuser's password.
    """

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.enabled = username is not None or password is not None
        self.secret = secrets.token_bytes(32)
        self.users: dict[str, User] = {}
        if self.enabled:
            root = username or "root"
            self.users[root] = User(root, password or "", superuser=True)

    def authenticate(self, authorization: str | None) -> User:
        """The user of an ``Authorization`` header (Basic or bearer JWT).

        :raise ArangoError: 401/11 when authentication is on and the header
            is missing, malformed, expired or names an unknown user.
        """
        if not self.enabled:
            return ANONYMOUS
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        scheme = scheme.lower()
        user = None
        if scheme == "basic":
            user = self._basic(credentials.strip())
        elif scheme == "bearer":
            user = self._bearer(credentials.strip())
        if user is None:
            raise unauthorized()
        return user

    def _basic(self, credentials: str) -> User | None:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (ValueError, UnicodeError, binascii.Error):
            return None
        name, _, password = decoded.partition(":")
        return self._check_password(name, password)

    def _check_password(self, name: str, password: str) -> User | None:
        user = self.users.get(name)
        if user is None or not user.active:
            return None
        if not hmac.compare_digest(user.password.encode(), password.encode()):
            return None
        return user

    def _bearer(self, token: str) -> User | None:
        payload = decode_jwt(token, self.secret)
        if payload is None or payload.get("iss") != "arangodb":
            return None
        expires = payload.get("exp")
        if isinstance(expires, (int, float)) and expires <= time.time():
            return None
        name = payload.get("preferred_username")
        if name is None and "server_id" in payload:
            return ANONYMOUS  # a superuser token signed with our secret
        user = self.users.get(name) if isinstance(name, str) else None
        return user if user is not None and user.active else None

    def login(self, body: t.Any) -> dict[str, str]:
        """``POST /_open/auth``: a token for a username and password.

        :raise ArangoError: 400/400 for a malformed body, 401/401 "Wrong
            credentials" for a bad name or password (RestAuthHandler).
        """
        if not self.enabled:
            # ArangoDB 3.12.6+ with authentication off (python-arango then
            # fails to decode it; use basic authentication there).
            return {"jwt": "invalid"}
        if not isinstance(body, dict) or not isinstance(body.get("username"), str):
            raise ArangoError(400, "invalid JSON")
        password = body.get("password", "")
        if not isinstance(password, str):
            raise ArangoError(400, "invalid JSON")
        user = self._check_password(body["username"], password)
        if user is None:
            raise ArangoError(401, "Wrong credentials")
        now = int(time.time())
        lifetime = body.get("expiryTime", SESSION_TIMEOUT)
        if not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = SESSION_TIMEOUT
        payload = {
            "preferred_username": user.name,
            "iss": "arangodb",
            "iat": now,
            "exp": int(now + lifetime),
        }
        return {"jwt": encode_jwt(payload, self.secret)}

    def grant(self, users: t.Any, database: str) -> None:
        """Create or grant the ``users`` of a ``POST /_api/database`` body.

        Unknown users are created with the given password; existing ones
        keep theirs and gain access to ``database``.
        """
        if users is None:
            return
        if not isinstance(users, list) or not all(
            isinstance(u, dict) and isinstance(u.get("username"), str) for u in users
        ):
            raise ArangoError(10, "'users' must be an array of objects with a username")
        for entry in users:
            user = self.users.get(entry["username"])
            if user is None:
                user = User(
                    entry["username"],
                    str(entry.get("passwd", "")),
                    active=bool(entry.get("active", True)),
                )
                self.users[user.name] = user
            user.databases.add(database)

    def revoke_database(self, database: str) -> None:
        """Forget rights on a dropped database."""
        for user in self.users.values():
            user.databases.discard(database)

    def snapshot(self) -> list[dict[str, t.Any]]:
        """Users other than the configured superuser, for the state file."""
        return [
            {
                "name": user.name,
                "password": user.password,
                "active": user.active,
                "databases": sorted(user.databases),
            }
            for user in self.users.values()
            if not user.superuser
        ]

    def restore(self, users: list[dict[str, t.Any]]) -> None:
        """Re-create users saved by :meth:`snapshot`."""
        for data in users:
            if data["name"] not in self.users:
                self.users[data["name"]] = User(
                    data["name"],
                    data["password"],
                    active=data["active"],
                    databases=set(data["databases"]),
                )

    def reset(self) -> None:
        """Remove every user but the configured superuser."""
        self.users = {name: u for name, u in self.users.items() if u.superuser}
