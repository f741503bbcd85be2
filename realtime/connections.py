"""The authenticated sockets this process holds.

Socket.IO rooms answer "who is in room X" only for the local process and
only by sid; this registry also knows each socket's session and user, so
revocation, expiry and handlers need no database request.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

#: A socket, as python-socketio addresses it: (sid, namespace).
SocketRef = tuple[str, str]


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
        self._by_session: defaultdict[str, set[SocketRef]] = defaultdict(set)
        self._by_user: defaultdict[str, set[SocketRef]] = defaultdict(set)

    def add(self, ref: SocketRef, identity: Identity) -> None:
        with self._lock:
            self._identities[ref] = identity
            self._by_session[identity.session_id].add(ref)
            self._by_user[identity.uid].add(ref)

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
            return list(self._by_session.get(session_id, ()))

    def of_user(self, uid: str) -> list[SocketRef]:
        with self._lock:
            return list(self._by_user.get(uid, ()))

    def session_ids(self) -> set[str]:
        with self._lock:
            return set(self._by_session)

    def items(self) -> Iterator[tuple[SocketRef, Identity]]:
        with self._lock:
            return iter(list(self._identities.items()))

    def __len__(self) -> int:
        return len(self._identities)


def _discard(index: defaultdict[str, set[SocketRef]], key: str, ref: SocketRef) -> None:
    refs = index.get(key)
    if refs is not None:
        refs.discard(ref)
        if not refs:
            del index[key]
