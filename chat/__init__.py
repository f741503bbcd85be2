"""The reference app: accounts, login, and live conversations over authenticated sockets.

``wsgi.py`` builds it with :func:`create_app`; tests pass their own config.
"""

from __future__ import annotations

import logging
import os
import typing as t

from flask import Flask
from flask_socketio import SocketIO

from realtime import Realtime, csrf_token, get_state
from realtime.logs import configure_logging

from . import conversations, views
from .users import user_store_for


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def log_like_the_library(app: Flask) -> None:
    """The app's own lines (logins, pages shown during a store outage) go out like ``realtime.*``'s.

    Same handler, level, format and session-id redaction as :func:`configure_logging` set up: what the
    app had when it lived inside the library, its logger a child of ``realtime``.
    """
    library = logging.getLogger("realtime")
    app.logger.handlers[:] = library.handlers
    app.logger.setLevel(library.level)
    app.logger.propagate = False


def create_app(test_config: t.Mapping[str, t.Any] | None = None, *, instance_path: str | None = None) -> Flask:
    app = Flask(__name__, instance_path=instance_path or os.environ.get("REALTIME_INSTANCE_PATH") or None)
    # SECRET_KEY and SECRET_KEY_FALLBACKS come from the environment through
    # the extension, like every other key.
    app.config.from_mapping(
        CHAT_CONVERSATIONS=_split(os.environ.get("CHAT_CONVERSATIONS")) or ["general", "random", "help"],
        REALTIME_LOG_LEVEL=os.environ.get("REALTIME_LOG_LEVEL", "INFO"),
    )
    if test_config:
        app.config.update(test_config)
    configure_logging(app)
    log_like_the_library(app)

    socketio = SocketIO()
    realtime = Realtime()
    conversations.register(socketio, realtime)
    realtime.init_app(app, socketio)

    users = user_store_for(get_state(app).store)
    app.extensions["realtime.users"] = users
    realtime.on_init_db(users.init_schema)

    views.socketio_client(app.config)  # a bad REALTIME_SOCKETIO_CLIENT_* fails here, not in a page
    app.register_blueprint(views.bp)
    app.jinja_env.globals["csrf_token"] = csrf_token
    from .cli import create_user_command

    app.cli.commands["realtime"].add_command(create_user_command)  # type: ignore[attr-defined]
    return app
