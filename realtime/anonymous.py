"""Anonymous session records: written only once they serve a purpose, at a bounded rate per client address.

Every page visit without a session gets a session id in its cookie; that id
alone is what the CSRF token of its forms is derived from. The stored
record adds one thing: the connect guard can tell a visitor who has not
logged in ("anonymous") from a session that ended ("unknown_session"), and
``flask realtime sessions`` lists the visitor. That is worth a database write
only for a browser, so the record is written when a client comes back with
the id it was given (a client that keeps no cookies never does), on a page
request (``GET``/``HEAD``: a form post needs only its id), and at most
``REALTIME_ANONYMOUS_RATE`` times per client address and minute. Past that
rate the visitor keeps its id without a record; everything but the refusal
reason works the same. Written under the id the visitor already has, so the
CSRF token of a form it holds stays valid.

A failing store must not take pages down: the visitor keeps its id, only
the record is missing.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Mapping

from flask import current_app, g, request, session

from . import auth, signals
from .errors import ConfigError, StoreError
from .helpers import current_session
from .ratelimit import RefusalLimiter
from .sessions import SessionRecord, is_valid_session_id, new_session_id

if t.TYPE_CHECKING:
    from flask import Flask

    from .state import RealtimeState

logger = logging.getLogger(__name__)

#: The window of REALTIME_ANONYMOUS_RATE, seconds.
RATE_WINDOW = 60.0
#: Requests that may write the record; any other needs at most the id (a form post: its CSRF token).
PAGE_METHODS = frozenset({"GET", "HEAD"})


def writes_per_minute(config: Mapping[str, t.Any]) -> int:
    raw = config["REALTIME_ANONYMOUS_RATE"]
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ConfigError(
            f"REALTIME_ANONYMOUS_RATE={raw!r} cannot work: set it to the anonymous session records written per"
            " client address and minute, a whole number of 1 or more (default 30). To write none at all, set"
            " REALTIME_ANONYMOUS_SESSIONS=false."
        )
    return raw


class AnonymousSessions:
    """The ``before_request`` hook: a session id for every visitor, a record once it serves a purpose."""

    def __init__(self, state: RealtimeState, per_minute: int) -> None:
        self.state = state
        self.writes = RefusalLimiter(per_minute, RATE_WINDOW)

    def __call__(self) -> None:
        if request.endpoint is None or request.endpoint in self.state.exempt_endpoints:
            return
        sid = session.get(auth.SESSION_KEY)
        if not is_valid_session_id(sid):
            # A first visit, or a client that keeps no cookies: the id is all a form needs.
            session.clear()
            session[auth.SESSION_KEY] = new_session_id()
            g._realtime_session = None
            return
        if request.method not in PAGE_METHODS:
            return
        try:
            if current_session() is not None:
                return
            if not self.writes.spend(current_app.extensions["realtime.ratelimit"].key(request.environ)):
                return  # over REALTIME_ANONYMOUS_RATE: the visitor keeps its id without a record
            lifetime = float(current_app.config["REALTIME_ANONYMOUS_LIFETIME"])
            now = self.state.store.clock()
            record = SessionRecord(sid=t.cast(str, sid), uid=None, created_at=now, expires_at=now + lifetime)
            self.state.store.save(record)
        except StoreError as exc:
            logger.warning("Could not create an anonymous session: %s", exc)
            signals.store_failed.send(current_app._get_current_object(), operation="http_session")
            return
        g._realtime_session = record


def init_app(app: Flask, state: RealtimeState) -> None:
    """Give page visits a session id; write anonymous records as the module docstring says."""
    per_minute = writes_per_minute(app.config)
    if app.config["REALTIME_ANONYMOUS_SESSIONS"]:
        app.before_request(AnonymousSessions(state, per_minute))
