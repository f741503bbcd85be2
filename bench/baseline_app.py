"""The baseline the benchmark compares ``realtime`` against: bare Flask-SocketIO.

No authentication, no ArangoDB, no ``realtime`` import: only the events the
reference app offers (``join``, ``message``, ``echo``) written the plain way a
Flask-SocketIO tutorial would. It runs under the same gunicorn command as the
app (the Procfile's ``web`` line with ``bench.baseline_app:app`` as the
target), so every difference the benchmark shows is what ``realtime`` adds or
saves.

One concession to comparability: a connect that carries no ``Cookie`` header
at all is refused with the same message the app sends ("Cookie not found").
That gives the "refused connects/s" row a bare-framework number (the cost of a
refusal with no verification behind it) instead of an empty cell. Every other
benchmark client sends a cookie, which this app never looks at.
"""

from __future__ import annotations

import itertools
import os
import time

from flask import Flask, request
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room

#: The ``uid`` every message carries; there are no users here.
ANONYMOUS_UID = "anonymous"

_message_ids = itertools.count(1)


def create_app() -> tuple[Flask, SocketIO]:
    """Build the baseline app and its ``SocketIO`` server."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "baseline-not-secret")
    # ``async_mode`` is explicit, as in the app: gunicorn's eventlet worker has
    # already monkey-patched the process by the time this module is imported.
    socketio = SocketIO(app, async_mode=os.environ.get("BASELINE_ASYNC_MODE", "eventlet"))

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @socketio.on("connect")
    def on_connect(auth: object = None) -> None:
        if "HTTP_COOKIE" not in request.environ:
            raise ConnectionRefusedError("Cookie not found")

    @socketio.on("join")
    def on_join(data: dict) -> dict:
        conversation = str(data["conversation"])
        join_room(f"conversation:{conversation}")
        return {"ok": True, "conversation": conversation}

    @socketio.on("message")
    def on_message(data: dict) -> None:
        conversation = str(data["conversation"])
        payload = {
            "id": next(_message_ids),
            "conversation": conversation,
            "uid": ANONYMOUS_UID,
            "text": str(data["text"]),
            "ts": time.time(),
        }
        emit("message", payload, to=f"conversation:{conversation}")

    @socketio.on("echo")
    def on_echo(data: object) -> object:
        return data

    return app, socketio


app, socketio = create_app()
