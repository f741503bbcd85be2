"""Helpers for the live-session tests: clients that record how they end, and test-only routes.

:func:`add_test_routes` gives an app the calls a test needs to drive the
public API from inside an instance: push from a view or from a background
task, revoke, and read the current session. Only test apps get them.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
import typing as t
import uuid
from pathlib import Path

import redis
import socketio
from flask import Blueprint, Flask, current_app, jsonify, request
from flask_socketio import join_room, rooms

from realtime import current_session, emit_to_session, emit_to_user, revoke_session, revoke_user
from realtime.extension import get_state
from tests.support.procs import ROOT, AppProcess, Browser, connect, free_port, hang_up, procfile_command

DEADLINE = 10.0


def queue_env(e2e_env: t.Callable[..., dict[str, str]], **overrides: str) -> dict[str, str]:
    """``e2e_env`` (fresh database, users alice and bob) for instances sharing Redis on a channel of their own.

    Redis pub/sub ignores the db number, so only a unique channel keeps other
    test runs on the same Redis from hearing these instances (and the reverse).
    """
    settings = {"REDIS_URL": "redis://127.0.0.1:6379/0", "REALTIME_CHANNEL": "test-live-" + uuid.uuid4().hex[:12]}
    return e2e_env(**{**settings, **overrides})


@contextlib.contextmanager
def running(env: dict[str, str], count: int = 2) -> t.Iterator[tuple[t.Any, ...]]:
    """``count`` instances of the app on ``env``, then a :class:`Clients` pool; all stopped afterwards."""
    procs: list[AppProcess] = []
    pool = Clients()
    try:
        for _ in range(count):
            procs.append(AppProcess(env, command=live_command()).start())
        yield (*procs, pool)
    finally:
        pool.close()
        for proc in procs:
            proc.stop()


def external(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python process that has no Socket.IO server, with the instances' environment."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def emitter_revokes(env: dict[str, str], call: str) -> None:
    """A worker script: ``Emitter.from_config().<call>`` must return something true (e.g. ``revoke_user('alice')``)."""
    code = f"from realtime.emitter import Emitter\nwith Emitter.from_config() as emitter:\n    assert emitter.{call}\n"
    result = external(env, code)
    assert result.returncode == 0, result.stderr


def live_command() -> list[str]:
    """The Procfile's web command, serving wsgi:app with the test routes added."""
    command = procfile_command("web")
    assert command[-1] == "wsgi:app"
    return [*command[:-1], "tests.support.live_wsgi:app"]


class RedisServer:
    """A private redis-server on a free port of 127.0.0.1 (optionally TLS-only), to stop and restart at will.

    :param tls: ``(certificate, key, CA certificate)`` files: serve TLS only.
    """

    def __init__(self, folder: Path, tls: tuple[Path, Path, Path] | None = None) -> None:
        self.folder = folder
        self.tls = tls
        self.port = free_port()
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        argv = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.tls:
            cert, key, ca = self.tls
            argv += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            argv += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
        else:
            argv += ["--port", str(self.port)]
        self.proc = subprocess.Popen(argv, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = redis.Redis.from_url(self.url, socket_timeout=1, **({"ssl_cert_reqs": None} if self.tls else {}))
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    probe.ping()
                    return self
                except redis.RedisError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{' '.join(argv)} did not start (built with TLS support?)") from None
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        finally:
            probe.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


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


class Clients:
    """Opens watched clients for a test and hangs them all up after it."""

    def __init__(self) -> None:
        self.opened: list[Watched] = []

    def __call__(self, target: t.Any, browser: Browser, **kwargs: t.Any) -> Watched:
        """Connect to ``target`` (anything with a ``url``) with ``browser``'s cookie."""
        watched = Watched(connect(target.url, browser.cookie_header, **kwargs))
        self.opened.append(watched)
        return watched

    def close(self) -> None:
        for watched in self.opened:
            hang_up(watched.client)


def login(target: t.Any, user: str = "alice") -> Browser:
    """A browser logged in as ``user`` (password ``<user>-pw``) through ``target``."""
    browser = Browser(target.url)
    assert browser.login(user, f"{user}-pw").status_code == 302
    return browser


def session_info(browser: Browser) -> dict[str, t.Any]:
    """The browser's session as the instance sees it: ``sid``, ``uid``, ``expires_at`` (None when it has none)."""
    return browser.request("GET", "/_test/session").json()


#: Set by :func:`stamp_server_environ` in every environ the WSGI server passes in: that dict's ``id()``.
SERVER_ENVIRON_ID = "realtime.test.server_environ_id"


def stamp_server_environ(app: Flask) -> None:
    """Wrap ``app.wsgi_app`` outermost: each environ from the server records its own id (a copy keeps the first)."""
    inner = app.wsgi_app

    def stamped(environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        environ[SERVER_ENVIRON_ID] = id(environ)
        return inner(environ, start_response)

    app.wsgi_app = stamped  # type: ignore[method-assign]


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

    socketio = get_state(app).socketio

    stamp_server_environ(app)

    @socketio.on("_test_join")
    def join_any(room: str) -> int:
        """An app handler that lets the client name any room (as many apps' handlers do)."""
        join_room(room)
        return len(rooms())

    @socketio.on("_test_rooms")
    def rooms_of_this_socket(_data: t.Any = None) -> list[str]:
        return rooms()

    @get_state(app).extension.on("_test_join_identity")
    def join_any_as_identity_handler(socket: t.Any, room: str) -> dict[str, t.Any]:
        socket.join(room)
        return {"ok": True}

    @socketio.on("_test_environ")
    def environ_facts(_data: t.Any = None) -> dict[str, t.Any]:
        """What this socket's handlers see of the handshake environ."""
        handed_over = request.environ.get("eventlet.input")
        return {
            "flask_app": request.environ.get("flask.app") is current_app._get_current_object(),
            "servers_own": request.environ.get(SERVER_ENVIRON_ID) == id(request.environ),
            "gunicorn_socket": request.environ.get("gunicorn.socket") is not None,
            "eventlet_input": type(handed_over).__qualname__ if handed_over is not None else None,
            "same_socket": handed_over is not None
            and handed_over.get_socket() is request.environ.get("gunicorn.socket"),
        }
