"""Helpers for the live-session tests: clients that record how they end, and test-only routes.

:func:`add_test_routes` gives an app the calls a test needs to drive the
public API from inside an instance: push from a view or from a background
task, revoke, and read the current session. Only test apps get them.
"""

from __future__ import annotations

import threading
import time
import typing as t

import socketio
from flask import Blueprint, Flask, current_app, jsonify, request

from realtime import current_session, emit_to_session, emit_to_user, revoke_session, revoke_user
from realtime.extension import get_state

DEADLINE = 10.0


class Watched:
    """A connected python-socketio client and everything it was told, with arrival times."""

    def __init__(self, client: t.Any) -> None:
        self.client = client
        #: ``(monotonic time, event, payload)`` in arrival order; "disconnect" carries the reason.
        self.log: list[tuple[float, str, t.Any]] = []
        self.disconnected = threading.Event()
        client.on("session_ended", lambda data: self._record("session_ended", data))
        client.on("disconnect", self._on_disconnect)

    def listen(self, event: str) -> None:
        self.client.on(event, lambda data=None: self._record(event, data))

    def _record(self, event: str, payload: t.Any) -> None:
        self.log.append((time.monotonic(), event, payload))

    def _on_disconnect(self, reason: t.Any = None) -> None:
        self._record("disconnect", reason)
        self.disconnected.set()

    def events(self, name: str | None = None) -> list[tuple[str, t.Any]]:
        return [(event, payload) for _, event, payload in self.log if name is None or event == name]

    def time_of(self, name: str) -> float | None:
        return next((when for when, event, _ in self.log if event == name), None)

    def wait_ended(self, timeout: float = DEADLINE) -> bool:
        return self.disconnected.wait(timeout)

    def wait_for(self, name: str, timeout: float = DEADLINE) -> list[t.Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [payload for event, payload in self.events(name)]
            if found:
                return found
            time.sleep(0.01)
        return []

    def ended_by_server(self, reason: str) -> bool:
        """Told ``session_ended {reason}`` first, then disconnected by the server.

        python-socketio calls that reason "server disconnect"; the JS client
        receives the same DISCONNECT packet as "io server disconnect" and
        does not reconnect by itself.
        """
        return [e for e in self.events() if e[0] in ("session_ended", "disconnect")] == [
            ("session_ended", {"reason": reason}),
            ("disconnect", socketio.Client.reason.SERVER_DISCONNECT),
        ]

    def alive(self) -> bool:
        """Still connected and answering: an echo round trip works."""
        if self.disconnected.is_set() or not self.client.connected:
            return False
        return self.client.call("echo", {"ping": 1}, timeout=5) == {"ping": 1}


def add_test_routes(app: Flask) -> None:
    """Register ``/_test/...`` routes that call the public API in this process."""
    bp = Blueprint("live_test", __name__, url_prefix="/_test")

    @bp.get("/session")
    def session_info() -> t.Any:
        record = current_session()
        if record is None:
            return jsonify(sid=None)
        return jsonify(sid=record.sid, uid=record.uid, expires_at=record.expires_at)

    @bp.get("/live")
    def live_info() -> t.Any:
        return jsonify(connections=len(get_state().connections))

    @bp.post("/push/<kind>/<target>")
    def push(kind: str, target: str) -> t.Any:
        body = request.get_json(force=True)
        send = emit_to_user if kind == "user" else emit_to_session
        if request.args.get("via") == "task":
            app_object = current_app._get_current_object()

            def task() -> None:
                with app_object.app_context():
                    send(target, body["event"], body.get("data"))

            get_state().socketio.start_background_task(task)
        else:
            send(target, body["event"], body.get("data"))
        return jsonify(ok=True)

    @bp.post("/revoke/<kind>/<target>")
    def revoke(kind: str, target: str) -> t.Any:
        if kind == "user":
            return jsonify(sids=revoke_user(target))
        revoke_session(target)
        return jsonify(ok=True)

    app.register_blueprint(bp)
