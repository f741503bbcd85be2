"""The authenticated sockets this process holds.

Socket.IO rooms answer "who is in room X" only for the local process and
only by sid; this registry also knows each socket's session and user, so
revocation, expiry and handlers need no database request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

#: A socket, as python-socketio addresses it: (sid, namespace).
SocketRef = tuple[str, str]
#: The sockets of one session or user in an index: the socket itself when it
#: is the only one (nearly always, for a session), else a set. A set per key
#: would cost every socket about 0.4 KiB more.
Refs = SocketRef | set[SocketRef]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a socket belongs to, fixed when it connected."""

    uid: str
    session_id: str
    expires_at: float


class Connections:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._identities: dict[SocketRef, Identity] = {}
        self._by_session: dict[str, Refs] = {}
        self._by_user: dict[str, Refs] = {}

    def add(self, ref: SocketRef, identity: Identity) -> None:
        with self._lock:
            self._identities[ref] = identity
            _index_add(self._by_session, identity.session_id, ref)
            _index_add(self._by_user, identity.uid, ref)

    def remove(self, ref: SocketRef) -> Identity | None:
        with self._lock:
            identity = self._identities.pop(ref, None)
            if identity is not None:
                _discard(self._by_session, identity.session_id, ref)
                _discard(self._by_user, identity.uid, ref)
            return identity

    def get(self, ref: SocketRef) -> Identity | None:
        return self._identities.get(ref)

    def update(self, ref: SocketRef, identity: Identity) -> None:
        """Replace the identity of a socket still connected (e.g. a new expiry)."""
        with self._lock:
            if ref in self._identities:
                self._identities[ref] = identity

    def of_session(self, session_id: str) -> list[SocketRef]:
        with self._lock:
            return _index_refs(self._by_session, session_id)

    def of_user(self, uid: str) -> list[SocketRef]:
        with self._lock:
            return _index_refs(self._by_user, uid)

    def session_ids(self) -> set[str]:
        with self._lock:
            return set(self._by_session)

    def items(self) -> Iterator[tuple[SocketRef, Identity]]:
        with self._lock:
            return iter(list(self._identities.items()))

    def __len__(self) -> int:
        return len(self._identities)


def _index_add(index: dict[str, Refs], key: str, ref: SocketRef) -> None:
    current = index.get(key)
    if current is None:
        index[key] = ref
    elif isinstance(current, set):
        current.add(ref)
    elif current != ref:
        index[key] = {current, ref}


def _discard(index: dict[str, Refs], key: str, ref: SocketRef) -> None:
    current = index.get(key)
    if isinstance(current, set):
        current.discard(ref)
        if len(current) == 1:
            index[key] = next(iter(current))
        elif not current:
            del index[key]
    elif current == ref:
        del index[key]


def _index_refs(index: dict[str, Refs], key: str) -> list[SocketRef]:
    current = index.get(key)
    if current is None:
        return []
    return list(current) if isinstance(current, set) else [current]
