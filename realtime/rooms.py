"""The ``user:<uid>`` and ``session:<session id>`` rooms, answered from the registry.

Every authenticated socket is addressable by its user and its session
(:func:`realtime.emit_to_user`, :func:`realtime.emit_to_session`, the
:class:`~realtime.emitter.Emitter`, and ``to="user:alice"`` in any emit).
python-socketio would keep each of these rooms as a ``bidict`` of its own,
two dicts per room, about 0.5 KiB per socket and room when every socket has a
session (and usually a user) to itself; its disconnect also copies and scans
every room of the namespace, so three rooms per socket make each disconnect
three times dearer. The registry (:class:`~realtime.connections.Connections`)
already knows which sockets each session and user has, so
:class:`RegistryRooms`, mixed into the server's client manager, answers for
these two kinds of room from it: python-socketio's documented
``get_participants`` (whom an emit reaches, locally and for emits arriving
through the message queue) and ``get_rooms`` (what ``rooms()`` lists).

What changes for an app: nothing it can see, except that a socket cannot
leave its own ``user:``/``session:`` room (``leave_room`` and ``close_room``
do not change who its identity is). A socket that explicitly joins such a
room with ``join_room`` is in it as before. ``REALTIME_REGISTRY_ROOMS=false``
goes back to python-socketio rooms.

:class:`RoomLimit`, mixed into the same managers, caps the rooms one socket
may be in (``REALTIME_MAX_ROOMS_PER_SOCKET``): every room costs memory for
as long as the socket stays, and python-socketio's disconnect walks them
all, so a handler that lets clients name rooms (``join_room(data["room"])``)
must not let one client join thousands.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterator

import socketio

from .connections import Connections, SocketRef
from .errors import TooManyRooms

USER_PREFIX = "user:"
SESSION_PREFIX = "session:"
_PREFIXES = (USER_PREFIX, SESSION_PREFIX)

Participants = Iterator[tuple[str, str]]


def user_room(uid: str) -> str:
    """The room every socket of user ``uid`` is in (on every namespace it joined)."""
    return USER_PREFIX + uid


def session_room(session_id: str) -> str:
    """The room every socket of one session is in."""
    return SESSION_PREFIX + session_id


def is_identity_room(room: object) -> bool:
    """Whether ``room`` names a user's or a session's room."""
    return isinstance(room, str) and room.startswith(_PREFIXES)


def identity_refs(connections: Connections, room: str) -> list[SocketRef]:
    """The sockets of this process in the identity room ``room``."""
    if room.startswith(USER_PREFIX):
        return connections.of_user(room[len(USER_PREFIX) :])
    return connections.of_session(room[len(SESSION_PREFIX) :])


class RegistryRooms:
    """Client manager mixin: identity rooms come from :attr:`connections` (see the module docstring).

    Until :attr:`connections` is set, the manager behaves exactly like the
    python-socketio manager it is mixed into.
    """

    #: The registry of the app this manager serves (set by ``Realtime.init_app``).
    connections: Connections | None = None
    rooms: dict[str, dict[t.Any, t.Any]]

    def get_participants(self, namespace: str, room: t.Any) -> Participants:
        connections = self.connections
        # Every emit asks, so the common case (any other room) is decided first.
        if isinstance(room, str):
            asks_identity = room.startswith(_PREFIXES)
        else:
            asks_identity = room is not None and any(is_identity_room(name) for name in room)
        if connections is None or not asks_identity:
            return super().get_participants(namespace, room)  # type: ignore[misc, no-any-return]
        names = [room] if isinstance(room, str) else list(room)
        # Sockets that joined any of these rooms themselves, then the identities'.
        participants = dict(super().get_participants(namespace, names))  # type: ignore[misc]
        connected = self.rooms.get(namespace, {}).get(None) or {}
        for name in names:
            if is_identity_room(name):
                for sid, ref_namespace in identity_refs(connections, name):
                    eio_sid = connected.get(sid) if ref_namespace == namespace else None
                    if eio_sid is not None:
                        participants[sid] = eio_sid
        return iter(participants.items())

    def get_rooms(self, sid: str, namespace: str) -> list[t.Any]:
        rooms: list[t.Any] = super().get_rooms(sid, namespace)  # type: ignore[misc]
        identity = self.connections.get((sid, namespace)) if self.connections is not None else None
        if identity is not None:
            for name in (user_room(identity.uid), session_room(identity.session_id)):
                if name not in rooms:  # joined explicitly as well
                    rooms.append(name)
        return rooms


class RoomLimit:
    """Client manager mixin: a socket may be in at most :attr:`max_rooms_per_socket` rooms.

    Its own sid room and the identity rooms do not count (the server puts
    every socket in them). Rooms are counted per socket as they are entered
    and left, so the check costs no scan of the server's rooms, and a socket
    that never joins a room costs nothing.
    """

    #: 0: no limit (set by ``Realtime.init_app`` from REALTIME_MAX_ROOMS_PER_SOCKET).
    max_rooms_per_socket: int = 0
    rooms: dict[str, dict[t.Any, t.Any]]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: (sid, namespace) -> rooms counted; only sockets in at least one.
        self._room_counts: dict[tuple[str, str], int] = {}

    def _counted(self, sid: str, namespace: str, room: t.Any) -> bool:
        """Whether ``room`` counts for ``sid`` and the socket is in it now."""
        if room is None or room == sid or is_identity_room(room):
            return False
        members = self.rooms.get(namespace, {}).get(room)
        return members is not None and sid in members

    def basic_enter_room(self, sid: str, namespace: str, room: t.Any, eio_sid: str | None = None) -> None:
        limit = self.max_rooms_per_socket
        if not limit or room is None or room == sid or is_identity_room(room) or self._counted(sid, namespace, room):
            return super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc, no-any-return]
        count = self._room_counts.get((sid, namespace), 0)
        if count >= limit:
            raise TooManyRooms(limit)
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self._room_counts[(sid, namespace)] = count + 1

    def basic_leave_room(self, sid: str, namespace: str, room: t.Any) -> None:
        counts = self._room_counts
        if counts and self._counted(sid, namespace, room):
            key = (sid, namespace)
            left = counts.get(key, 0) - 1
            if left > 0:
                counts[key] = left
            else:
                counts.pop(key, None)
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]


class RegistryRoomsManager(RoomLimit, RegistryRooms, socketio.Manager):
    """python-socketio's in-process client manager, with identity rooms from the registry and a room limit."""


class RegistryRoomsRedisManager(RoomLimit, RegistryRooms, socketio.RedisManager):
    """python-socketio's Redis client manager, with identity rooms from the registry and a room limit."""


def limit_rooms(manager: object, max_rooms: int) -> bool:
    """Cap the rooms per socket of ``manager`` (0: no cap); return whether it can (one the app built cannot)."""
    if not isinstance(manager, RoomLimit):
        return False
    manager.max_rooms_per_socket = max_rooms
    return True


def attach(manager: object, connections: Connections) -> bool:
    """Let ``manager`` answer identity rooms from ``connections``; return whether it can.

    A manager the app built itself (not a :class:`RegistryRooms`) cannot,
    and sockets then join python-socketio rooms as before.
    """
    if not isinstance(manager, RegistryRooms):
        return False
    manager.connections = connections
    return True
