"""Live sockets follow the session on every instance; push to users and sessions from anywhere.

See :mod:`realtime.live.service` for how, and the README sections "Running several instances" and
"Revocation and push API" for operators.
"""

from __future__ import annotations

from .control import DEFAULT_CHANNEL, EXPIRED, LOGOUT, REVOKED, control_channel, session_room, user_room
from .service import SESSION_ENDED, LiveSessions

__all__ = [
    "DEFAULT_CHANNEL",
    "EXPIRED",
    "LOGOUT",
    "REVOKED",
    "SESSION_ENDED",
    "LiveSessions",
    "control_channel",
    "session_room",
    "user_room",
]
