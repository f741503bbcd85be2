"""Socket.IO events of the reference app: join, leave, message, echo, and presence.

Presence comes from server-side room membership: who is online in a
conversation is the set of users with a socket in its room on this instance.
A joining socket gets the list in its ack; the room hears of changes at most
once per :data:`PRESENCE_COALESCE_SECONDS`, as one update for all the joins
and leaves of that moment.
"""

from __future__ import annotations

import secrets
import time
import typing as t

from flask import Flask, current_app, request
from flask_socketio import SocketIO, leave_room

from realtime import Identity, Realtime, Socket, get_state

from .protocol import ProtocolError, conversation_from, message_from, room_of

Ack = dict[str, t.Any]

#: Joins and leaves within this many seconds reach a conversation as one
#: presence update. Announcing each at once, N users joining together (a
#: class starting, a reconnect wave after a deploy) would cost N updates of
#: up to N deliveries each, every one carrying the whole online list.
PRESENCE_COALESCE_SECONDS = 0.2

#: Conversations one socket may be in at once. The page is in one at a time;
#: without a cap, one client naming made-up conversations would hold memory
#: for each and make its own disconnect (a leave and an update per
#: conversation) stall everyone.
MAX_JOINED = 20


def online_in(socketio: SocketIO, conversation: str, namespace: str = "/") -> list[str]:
    """Sorted uids with a socket in the conversation's room on this instance."""
    connections = get_state().connections
    uids = set()
    for sid, _eio_sid in socketio.server.manager.get_participants(namespace, room_of(conversation)):
        identity = connections.get((sid, namespace))
        if identity is not None:
            uids.add(identity.uid)
    return sorted(uids)


def register(socketio: SocketIO, realtime: Realtime) -> None:
    """Attach the conversation events to ``socketio`` (call before ``init_app``)."""

    #: The online list last sent to each conversation. A join or leave that
    #: changes nobody's presence (another tab of a user already online) sends
    #: nothing; otherwise N sockets joining one conversation cost N² deliveries.
    #: The joining socket always gets the list in its ack.
    announced: dict[str, list[str]] = {}
    #: The conversations each socket joined. Kept here rather than asked of
    #: python-socketio, whose ``rooms(sid)`` scans every room on the server:
    #: a check per message and per disconnect must not grow with the number
    #: of sockets.
    joined: dict[tuple[str, str], set[str]] = {}

    #: Conversations with an update on its way.
    pending: set[str] = set()

    def announce(conversation: str) -> None:
        online = online_in(socketio, conversation)
        if announced.get(conversation, []) != online:
            if online:
                announced[conversation] = online
            else:
                announced.pop(conversation, None)
            socketio.emit("presence", {"conversation": conversation, "online": online}, to=room_of(conversation))

    def announce_soon(conversation: str) -> None:
        if conversation in pending:
            return  # the update on its way will carry this change too
        pending.add(conversation)
        socketio.start_background_task(announce_later, current_app._get_current_object(), conversation)

    def announce_later(app: Flask, conversation: str) -> None:
        socketio.sleep(PRESENCE_COALESCE_SECONDS)
        pending.discard(conversation)
        with app.app_context():
            announce(conversation)

    # Identity handlers (realtime.on): the socket and its user, no per-event
    # request context; see realtime/events.py.

    @realtime.on("join")
    def on_join(socket: Socket, payload: object = None) -> Ack:
        ref = (socket.sid, socket.namespace)
        try:
            conversation = conversation_from(payload)
            current = joined.get(ref, ())
            if conversation not in current and len(current) >= MAX_JOINED:
                raise ProtocolError(
                    "too_many_conversations",
                    f"A connection can be in at most {MAX_JOINED} conversations. Leave one before joining another.",
                )
        except ProtocolError as exc:
            return exc.ack()
        socket.join(room_of(conversation))
        joined.setdefault(ref, set()).add(conversation)
        announce_soon(conversation)
        return {"ok": True, "conversation": conversation, "online": online_in(socketio, conversation)}

    @realtime.on("leave")
    def on_leave(socket: Socket, payload: object = None) -> Ack:
        try:
            conversation = conversation_from(payload)
        except ProtocolError as exc:
            return exc.ack()
        socket.leave(room_of(conversation))
        ref = (socket.sid, socket.namespace)
        conversations = joined.get(ref, set())
        conversations.discard(conversation)
        if not conversations:
            joined.pop(ref, None)
        announce_soon(conversation)
        return {"ok": True, "conversation": conversation}

    @realtime.on("message")
    def on_message(socket: Socket, payload: object = None) -> Ack:
        try:
            conversation, text = message_from(payload)
            if conversation not in joined.get((socket.sid, socket.namespace), ()):
                raise ProtocolError("not_joined", "Join the conversation before sending to it.")
        except ProtocolError as exc:
            return exc.ack()
        message = {
            "id": secrets.token_hex(8),
            "conversation": conversation,
            "uid": socket.uid,
            "text": text,
            "ts": round(time.time(), 3),
        }
        socket.emit("message", message, to=room_of(conversation))
        return {"ok": True, "id": message["id"]}

    @realtime.on("echo")
    def on_echo(socket: Socket, payload: object = None) -> object:
        # Round-trip probe for clients measuring latency (and for benchmarks).
        return payload

    @realtime.on_disconnect
    def on_gone(identity: Identity, reason: object) -> None:
        # A disconnect hook runs in Flask-SocketIO's request context.
        ref = (request.sid, request.namespace)  # type: ignore[attr-defined]
        for conversation in sorted(joined.pop(ref, ())):
            leave_room(room_of(conversation))
            announce_soon(conversation)
