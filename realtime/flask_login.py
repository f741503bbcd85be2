"""Flask-Login, bound to session records: an app keeps its views, and its logins authenticate sockets.

Set up by ``Realtime.init_app`` when Flask-Login is installed
(``REALTIME_FLASK_LOGIN``, on by default); an app that never calls
``login_user`` is not affected. Three of Flask-Login's signals do the work:

``user_logged_in`` (``login_user``)
    starts a logged-in session record for ``user.get_id()`` under a new
    session id (:func:`~realtime.login_session`: the old record is deleted,
    which defeats session fixation). Flask-Login's bookkeeping keys
    (``_user_id``, ``_fresh``, ``_id``) stay in the cookie next to ``sid``.

``user_logged_out`` (``logout_user``)
    deletes the record and ends its sockets on every instance
    (:func:`~realtime.logout_session` with reason ``logout``).

``user_accessed`` (each time Flask-Login is about to load ``current_user``)
    makes the cookie agree with the record *before* Flask-Login reads it:
    ``_user_id`` becomes the record's uid, or is removed when the record is
    gone, expired, anonymous or unreadable. So the record is the truth for
    HTTP as for sockets: a session revoked from the CLI or another instance
    ends the HTTP login too, at the next request. In a socket handler the uid
    comes from the socket's identity, without a database request, so
    ``current_user`` works there as well.

"Remember me" is not honoured: Flask-Login's remember cookie is a second,
unrevocable credential. ``login_user(remember=True)`` logs in like
``remember=False`` (a warning says so once), and a remember cookie left from
before is deleted. How long a login lasts is ``REALTIME_SESSION_LIFETIME``.
"""

from __future__ import annotations

import logging
import typing as t

from flask import Flask, current_app, request, session

from .errors import StoreError
from .helpers import current_identity, current_session, login_session, logout_session

logger = logging.getLogger(__name__)

#: Flask-Login's keys that name the user; removed when the record is not logged in.
IDENTITY_KEYS = ("_user_id", "_fresh", "_id")
#: Flask-Login's default remember-me cookie name (``REMEMBER_COOKIE_NAME``).
REMEMBER_COOKIE = "remember_token"

_EXTENSION_KEY = "realtime.flask_login"
_connected = False


def init_app(app: Flask) -> bool:
    """Bind Flask-Login's logins in ``app`` to session records; False when Flask-Login is not installed."""
    global _connected
    try:
        import flask_login
    except ImportError:
        return False
    app.extensions[_EXTENSION_KEY] = {"warned_remember": False}
    if not _connected:
        # Connected once for every app (receivers check that their app
        # opted in); module functions are held strongly.
        flask_login.user_logged_in.connect(_on_logged_in)
        flask_login.user_logged_out.connect(_on_logged_out)
        flask_login.user_accessed.connect(_on_accessed)
        _connected = True
    return True


def _enabled(app: Flask) -> dict[str, t.Any] | None:
    return app.extensions.get(_EXTENSION_KEY) if "realtime" in app.extensions else None


def _remember_cookie_name() -> str:
    return current_app.config.get("REMEMBER_COOKIE_NAME", REMEMBER_COOKIE)


def _on_logged_in(app: Flask, user: t.Any = None, **kwargs: t.Any) -> None:
    settings = _enabled(app)
    if settings is None or user is None:
        return
    kept = {key: session[key] for key in IDENTITY_KEYS if key in session}
    if session.get("_remember") == "set" and not settings["warned_remember"]:
        settings["warned_remember"] = True
        logger.warning(
            "login_user(remember=True) is ignored: a remember cookie would outlive revocation. A login lasts"
            " REALTIME_SESSION_LIFETIME seconds."
        )
    login_session(str(user.get_id()))  # clears the cookie session, sets the new sid
    session.update(kept)


def _on_logged_out(app: Flask, user: t.Any = None, **kwargs: t.Any) -> None:
    if _enabled(app) is None:
        return
    # logout_user asks for the remember cookie to be deleted; keep asking.
    clear_remember = session.get("_remember") == "clear"
    logout_session("logout")
    if clear_remember:
        session["_remember"] = "clear"


def _on_accessed(app: Flask, **kwargs: t.Any) -> None:
    if _enabled(app) is None:
        return
    uid, known = _uid_from_record()
    if uid is not None:
        if session.get("_user_id") != uid:
            session["_user_id"] = uid
    else:
        # Not logged in (or the store cannot tell): Flask-Login must find no
        # user id to load. Freshness is only dropped when the record says so.
        for key in IDENTITY_KEYS if known else ("_user_id",):
            if key in session:
                session.pop(key)
    if _remember_cookie_name() in request.cookies and session.get("_remember") != "clear":
        session["_remember"] = "clear"


def _uid_from_record() -> tuple[str | None, bool]:
    """``(uid or None, whether that is known)`` for the current request or socket event."""
    if _in_socket_handler():
        identity = current_identity()
        return (identity.uid if identity is not None else None), True
    try:
        record = current_session()
    except StoreError as exc:
        logger.warning("Session store unavailable, so current_user is anonymous for this request: %s", exc)
        return None, False
    if record is None or not record.is_authenticated:
        return None, True
    return record.uid, True


def _in_socket_handler() -> bool:
    # Flask-SocketIO sets these on the request of every socket event.
    return getattr(request, "namespace", None) is not None and hasattr(request, "sid")
