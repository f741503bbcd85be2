"""Deciding whether a socket may connect: the refusal contract, without I/O of its own.

:func:`authenticate` gets the Flask session (already verified by Flask's
signed-cookie interface) and the store's read, and either returns the session record
or raises :class:`~realtime.errors.AuthError` with the message and reason the
client will see. Store failures surface as
:class:`~realtime.errors.StoreError` for the boundary to turn into
"Session store unavailable".
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping

from .errors import AuthError
from .sessions import SessionRecord, is_valid_session_id

#: The refusals a client can see: ``err.message`` and ``err.data.reason``.
NO_COOKIE = ("Cookie not found", "no_cookie")
UNKNOWN_SESSION = ("Session is not authenticated", "unknown_session")
ANONYMOUS = ("Session is not authenticated", "anonymous")
UNAVAILABLE = ("Session store unavailable", "unavailable")

#: The key in the Flask session that holds the session id.
SESSION_KEY = "sid"


def session_id_from(cookie_session: Mapping[str, t.Any] | None) -> object:
    """The raw ``sid`` value of a Flask session, or ``None``.

    A missing cookie, a bad signature and a session without ``sid`` all look
    the same here: Flask turns a bad signature into an empty session.
    """
    if not cookie_session:
        return None
    return cookie_session.get(SESSION_KEY)


def authenticate(
    cookie_session: Mapping[str, t.Any] | None, read_session: Callable[[str], SessionRecord | None]
) -> SessionRecord:
    """Return the authenticated record the cookie points at, or raise :class:`AuthError`.

    ``read_session(sid)`` is the store request (``SessionStore.get``, or the
    guard's wrapper that runs it in a short-lived task). It is made at most
    once, and not at all when the cookie cannot name a session we issued.
    """
    sid = session_id_from(cookie_session)
    if sid is None or sid == "":
        raise AuthError(*NO_COOKIE)
    if not is_valid_session_id(sid):
        # Signed by us but not an id we issue (wrong type, bad characters,
        # wrong length): it cannot name a record, and must not reach a driver.
        raise AuthError(*UNKNOWN_SESSION)
    record = read_session(sid)
    if record is None:
        raise AuthError(*UNKNOWN_SESSION)
    if not record.is_authenticated:
        raise AuthError(*ANONYMOUS)
    return record
