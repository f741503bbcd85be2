"""What views and socket handlers call: the current session, login and logout, revocation, push, CSRF.

Each helper reaches its app's state through :func:`realtime.state.get_state`
(``current_app``), the way Flask-Login's ``utils.py`` reaches its manager, so
nothing here imports the extension. :func:`slide_session` is the HTTP
``after_request`` hook of sliding sessions (``REALTIME_SLIDING_SESSIONS``).
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import replace

from flask import Response, current_app, g, request, session

from . import auth, csrf, signals
from .connections import Identity
from .errors import StoreError
from .live.policy import slid_expiry
from .rooms import session_room, user_room
from .sessions import SessionRecord, is_valid_session_id
from .state import get_state

logger = logging.getLogger(__name__)


def current_session() -> SessionRecord | None:
    """The live session record of the current HTTP request (one read, cached per request)."""
    if "_realtime_session" not in g:
        g._realtime_session = get_state().store.get(session.get(auth.SESSION_KEY))
    return g._realtime_session


def current_identity() -> Identity | None:
    """Who the current Socket.IO event comes from, without a database request."""
    return get_state().connections.get((request.sid, request.namespace))  # type: ignore[attr-defined]


def login_session(uid: str) -> SessionRecord:
    """Start a logged-in session for ``uid`` under a new session id.

    The old record is deleted first: a new id at every login is what defeats
    session fixation.
    """
    state = get_state()
    old = session.get(auth.SESSION_KEY)
    if is_valid_session_id(old):
        previous = current_session()
        if previous is not None and previous.is_authenticated:
            # Another login in this browser (someone else's, or an earlier
            # one): its sockets must not outlive it.
            revoke_session(old, reason="logout")
        else:
            state.store.delete(old)
    record = state.store.create(uid, float(current_app.config["REALTIME_SESSION_LIFETIME"]))
    session.clear()
    session[auth.SESSION_KEY] = record.sid
    session.permanent = True
    g._realtime_session = record
    return record


def logout_session(reason: str = "logout") -> None:
    """Delete the current session record and end its live sockets."""
    sid = session.get(auth.SESSION_KEY)
    session.clear()
    g._realtime_session = None
    if is_valid_session_id(sid):
        revoke_session(sid, reason=reason)


def revoke_session(sid: str, reason: str = "revoked") -> None:
    """Delete one session record and end its sockets on every instance.

    The sockets end even when the store fails (the error is raised after).
    """
    state = get_state()
    try:
        state.store.delete(sid)
    finally:
        if is_valid_session_id(sid):
            state.live.end_sessions([sid], reason)
    signals.sessions_ended.send(current_app._get_current_object(), sids=[sid], uid=None, reason=reason)


def revoke_user(uid: str, reason: str = "revoked") -> list[str]:
    """Delete every session of ``uid`` and end all their sockets on every instance; return the sids."""
    state = get_state()
    sids: list[str] = []
    try:
        sids = state.store.delete_user(uid)
    finally:
        state.live.end_user(uid, reason, sids)
    signals.sessions_ended.send(current_app._get_current_object(), sids=sids, uid=uid, reason=reason)
    return sids


def emit_to_user(uid: str, event: str, data: t.Any = None, *, namespace: str = "/") -> None:
    """Send ``event`` to every socket of ``uid``, on every instance.

    Works in views, socket handlers and, inside ``app.app_context()``,
    background tasks. Other processes use :class:`realtime.emitter.Emitter`.
    """
    _emit(user_room(uid), event, data, namespace)


def emit_to_session(sid: str, event: str, data: t.Any = None, *, namespace: str = "/") -> None:
    """Send ``event`` to every socket of session ``sid`` (one browser), on every instance."""
    _emit(session_room(sid), event, data, namespace)


def _emit(room: str, event: str, data: t.Any, namespace: str) -> None:
    args = () if data is None else (data,)
    get_state().socketio.emit(event, *args, to=room, namespace=namespace)


def csrf_token() -> str:
    """The CSRF token for forms of the current session."""
    sid = session.get(auth.SESSION_KEY)
    if not is_valid_session_id(sid):
        sid = SessionRecord.new(None, 0, 0).sid
        session[auth.SESSION_KEY] = sid
    return csrf.make_token(current_app.secret_key, sid)


def check_csrf(token: object) -> bool:
    sid = session.get(auth.SESSION_KEY)
    if not is_valid_session_id(sid):
        return False
    keys = [current_app.secret_key, *(current_app.config.get("SECRET_KEY_FALLBACKS") or [])]
    return csrf.check_token(keys, sid, token)


def slide_session(response: Response) -> Response:
    """After an HTTP request, push a sliding session's expiry forward (rate-limited), here and on its sockets."""
    state = get_state()
    if request.endpoint is None or request.endpoint in state.exempt_endpoints:
        return response
    live = state.live
    try:
        record = current_session()
        new_expiry = slid_expiry(record, live.clock(), live.lifetime) if record else None
        if record is None or new_expiry is None:
            return response
        # An update, never an insert: a session revoked meanwhile stays so.
        if not state.store.extend(record.sid, new_expiry):
            return response
    except StoreError as exc:
        logger.warning("Could not extend a sliding session: %s", exc)
        return response
    g._realtime_session = replace(record, expires_at=new_expiry)
    live.extend(record.sid, new_expiry)
    return response
