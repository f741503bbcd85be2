"""realtime: authenticated Socket.IO for Flask apps, from the session cookie they already have."""

from __future__ import annotations

from .connections import Identity
from .emitter import Emitter
from .errors import AuthError, ConfigError, RealtimeError, StoreError, TooManyRooms
from .events import Socket
from .extension import Realtime
from .helpers import (
    check_csrf,
    csrf_token,
    current_identity,
    current_session,
    emit_to_session,
    emit_to_user,
    login_session,
    logout_session,
    revoke_session,
    revoke_user,
)
from .sessions import SessionRecord, SessionStore
from .state import get_state

__all__ = [
    "AuthError",
    "ConfigError",
    "Emitter",
    "Identity",
    "Realtime",
    "RealtimeError",
    "SessionRecord",
    "SessionStore",
    "Socket",
    "StoreError",
    "TooManyRooms",
    "check_csrf",
    "csrf_token",
    "current_identity",
    "current_session",
    "emit_to_session",
    "emit_to_user",
    "get_state",
    "login_session",
    "logout_session",
    "revoke_session",
    "revoke_user",
]
