"""The names and messages every process agrees on, without any I/O.

Every socket is in two rooms (``user:<uid>`` and ``session:<session id>``,
see :mod:`realtime.rooms`), so a push reaches it through Flask-SocketIO's own
message queue from any process. Ending sockets needs more than a push, since
python-socketio has no room-wide disconnect and rooms are local to each
process: a small control channel next to the Socket.IO one carries
:class:`EndSockets` and :class:`ExtendSessions` messages as JSON, and every
instance applies them to the sockets it holds. On the wire each message is
signed (:mod:`realtime.live.signing`); this module only builds and reads
the JSON inside.
"""

from __future__ import annotations

import json
import math
import typing as t
from dataclasses import dataclass

from ..rooms import session_room, user_room  # noqa: F401 - the room names emitters address
from ..sessions import is_valid_session_id, normalize_uid

#: Flask-SocketIO's default channel; a raw python-socketio manager defaults to
#: "socketio" instead, which Flask-SocketIO servers would never hear.
DEFAULT_CHANNEL = "flask-socketio"

#: Version of the control message format, so a future change can be told apart.
#: 2: signed, with the time sent and a nonce (1 was unsigned).
VERSION = 2

#: Reasons the server gives in ``session_ended``; apps may pass their own.
LOGOUT, REVOKED, EXPIRED = "logout", "revoked", "expired"

_MAX_REASON = 64


def control_channel(channel: str) -> str:
    """The pub/sub channel for control messages that belongs to Socket.IO channel ``channel``."""
    return f"{channel}:realtime-control"


def check_uid(uid: object) -> str:
    """``uid`` as sockets know it (a string; positive integers are accepted and turned into one)."""
    normalized = normalize_uid(uid)
    if normalized is None:
        raise ValueError(f"not a uid a socket can have: {uid!r}")
    return normalized


def check_reason(reason: object) -> str:
    if not isinstance(reason, str) or not 0 < len(reason) <= _MAX_REASON:
        raise ValueError(f"reason must be a non-empty string of at most {_MAX_REASON} characters, got {reason!r}")
    return reason


@dataclass(frozen=True)
class EndSockets:
    """End the sockets of these sessions, and of ``uid`` when given, with ``reason``."""

    session_ids: tuple[str, ...]
    uid: str | None
    reason: str


@dataclass(frozen=True)
class ExtendSessions:
    """Session ``session_id`` now expires at ``expires_at`` (sliding sessions)."""

    session_id: str
    expires_at: float


Operation = EndSockets | ExtendSessions


@dataclass(frozen=True)
class Message:
    """A decoded control message: the operation, who sent it, when, and its nonce (against replays)."""

    op: Operation
    origin: str
    sent_at: float
    nonce: str


def encode(op: Operation, origin: str, *, sent_at: float, nonce: str) -> str:
    """The JSON text published for ``op``; ``origin`` names the sending process."""
    if isinstance(op, EndSockets):
        body: dict[str, t.Any] = {"op": "end", "sessions": list(op.session_ids), "uid": op.uid, "reason": op.reason}
    else:
        body = {"op": "extend", "session": op.session_id, "expires_at": op.expires_at}
    envelope = {"v": VERSION, "origin": origin, "sent_at": sent_at, "nonce": nonce}
    return json.dumps({**envelope, **body}, separators=(",", ":"))


def decode(raw: str | bytes) -> Message | None:
    """The :class:`Message` in a published JSON text; ``None`` for anything malformed.

    Whatever arrives on the channel is checked as strictly as a cookie is:
    an id we could not have issued, a uid of the wrong shape or an unknown
    operation is dropped, never half-applied.
    """
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or message.get("v") != VERSION:
        return None
    origin, sent_at, nonce = message.get("origin"), message.get("sent_at"), message.get("nonce")
    if not isinstance(origin, str) or not _is_time(sent_at) or not isinstance(nonce, str) or not nonce:
        return None
    decoders = {"end": _decode_end, "extend": _decode_extend}
    decoder = decoders.get(message.get("op"))  # type: ignore[arg-type]
    operation = decoder(message) if decoder else None
    return Message(operation, origin, float(sent_at), nonce) if operation else None


def _is_time(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _decode_end(message: dict[str, t.Any]) -> EndSockets | None:
    sessions = message.get("sessions")
    uid = message.get("uid")
    reason = message.get("reason")
    if not isinstance(sessions, list) or not all(is_valid_session_id(s) for s in sessions):
        return None
    if uid is not None and normalize_uid(uid) != uid:
        return None
    if not sessions and uid is None:
        return None
    try:
        check_reason(reason)
    except ValueError:
        return None
    return EndSockets(tuple(sessions), uid, reason)


def _decode_extend(message: dict[str, t.Any]) -> ExtendSessions | None:
    session_id = message.get("session")
    expires_at = message.get("expires_at")
    if not is_valid_session_id(session_id):
        return None
    if not _is_time(expires_at):
        return None
    return ExtendSessions(session_id, float(expires_at))
