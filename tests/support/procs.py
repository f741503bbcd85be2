"""Real processes for end-to-end tests: the app as the Procfile runs it, and its clients.

Everything here talks over real sockets on 127.0.0.1: gunicorn with the
eventlet worker, python-socketio clients, plain HTTP for login.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import requests
import socketio

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_command(process: str = "web") -> list[str]:
    """The command of one Procfile process type, as the PaaS would run it."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return shlex.split(command.strip())
    raise LookupError(f"Procfile has no {process!r} process")


#: REALTIME_WORKER -> how the Procfile's web line changes.
WORKERS = {
    "eventlet": ["--worker-class", "eventlet"],
    "gevent": ["--worker-class", "gevent"],
    "threads": ["--worker-class", "gthread", "--threads", "50"],
}


def web_command(worker: str) -> list[str]:
    """The Procfile's web command with the worker class of ``worker``."""
    command = procfile_command("web")
    at = command.index("--worker-class")
    return command[:at] + WORKERS[worker] + command[at + 2 :]


def _resolve(argv: list[str]) -> list[str]:
    # The venv's console scripts (gunicorn, flask) even when PATH lacks the venv.
    exe = VENV_BIN / argv[0]
    return [str(exe) if exe.exists() else argv[0], *argv[1:]]


def run_release(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_flask(procfile_command("release")[1:], env)


def run_flask(args: list[str], env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``flask ...`` in a subprocess from the repo root, like an operator would type it."""
    argv = _resolve(["flask", *args]) if args[0] != "flask" else _resolve(args)
    return subprocess.run(argv, cwd=ROOT, env=env, input=input, capture_output=True, text=True, timeout=60, check=False)


def base_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARANGO_", "REALTIME_", "REDIS_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        SECRET_KEY="e2e-secret-key-" + "x" * 32,
        # Tests talk plain HTTP to 127.0.0.1, so the cookie is not Secure
        # there; production keeps it Secure (tested separately).
        REALTIME_ENV="development",
    )
    env.update(overrides)
    return env


class AppProcess:
    """The Procfile's ``web`` process (gunicorn + eventlet worker) on a free port."""

    def __init__(self, env: dict[str, str], port: int | None = None, command: list[str] | None = None) -> None:
        self.port = port or free_port()
        # gunicorn alone would bind 0.0.0.0:$PORT; tests stay on loopback.
        self.env = {**env, "PORT": str(self.port), "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{self.port}"}
        self.command = command or procfile_command("web")
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="app-", suffix=".log", delete=False)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> AppProcess:
        self.proc = subprocess.Popen(
            _resolve(self.command),
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}:\n{self.output()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"app did not answer /healthz within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def pid_of_worker(self) -> int:
        import psutil

        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children()
        return children[0].pid if children else self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            self.log.close()
            return self.proc.returncode if self.proc else None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)
        finally:
            self.log.close()

    def __enter__(self) -> AppProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_SET_COOKIE = re.compile(r"(?:^|,\s*)session=([^;]*)")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def session_cookie(response: requests.Response) -> str | None:
    """The ``session`` cookie a response sets (read by hand: it may be Secure)."""
    for header in response.raw.headers.getlist("Set-Cookie"):
        match = _SET_COOKIE.search(header)
        if match:
            return match.group(1)
    return None


class Browser:
    """A minimal cookie-keeping HTTP client, like a browser's view of one site."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.cookie: str | None = None

    def request(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.cookie:
            headers["Cookie"] = f"session={self.cookie}"
        response = self.http.request(
            method, self.base_url + path, headers=headers, allow_redirects=False, timeout=10, **kwargs
        )
        new = session_cookie(response)
        if new is not None:
            self.cookie = new or None
        return response

    def csrf(self, path: str = "/login") -> str:
        page = self.request("GET", path)
        match = _CSRF.search(page.text)
        assert match, f"no csrf_token field on {path}"
        return match.group(1)

    def login(self, username: str, password: str) -> requests.Response:
        token = self.csrf("/login")
        return self.request("POST", "/login", data={"username": username, "password": password, "csrf_token": token})

    def logout(self) -> requests.Response:
        return self.request("POST", "/logout", data={"csrf_token": self.csrf("/login")})

    @property
    def cookie_header(self) -> dict[str, str]:
        return {"Cookie": f"session={self.cookie}"} if self.cookie else {}


class Refused(Exception):
    def __init__(self, data: dict[str, t.Any]) -> None:
        super().__init__(data)
        self.message = data.get("message")
        self.reason = (data.get("data") or {}).get("reason")


def connect(
    url: str,
    headers: dict[str, str] | None = None,
    transports: list[str] | None = None,
    timeout: float = 10,
    namespace: str = "/",
) -> socketio.Client:
    """A connected python-socketio client, or :class:`Refused` with the server's message and reason.

    Waits on the connect/connect_error events itself: the client's own wait
    after a refusal lasts until its timeout (and a long-poll), which would
    make every refusal test slow without testing anything more.
    """
    http_session = None
    if headers and "polling" in (transports or []):
        # python-engineio's client sends headers= with the polling handshake only, and every request of an
        # Engine.IO session must carry the cookie its handshake carried (realtime.binding), as a browser's do.
        http_session = requests.Session()
        http_session.headers.update(headers)
    client = socketio.Client(reconnection=False, http_session=http_session)
    refusal: dict[str, t.Any] = {}
    settled = threading.Event()

    @client.on("connect", namespace=namespace)
    def _on_connect() -> None:
        settled.set()

    @client.on("connect_error", namespace=namespace)
    def _on_error(data: t.Any) -> None:
        refusal.update(data if isinstance(data, dict) else {"message": data})
        settled.set()

    client.connect(
        url, headers=headers or {}, transports=transports or ["websocket"], namespaces=[namespace], wait=False
    )
    if not settled.wait(timeout):
        hang_up(client)
        raise TimeoutError(f"no connect or connect_error from {url} within {timeout}s")
    if refusal:
        hang_up(client)
        raise Refused(refusal)
    return client


def hang_up(client: socketio.Client, close_timeout: float = 0.2) -> None:
    """Disconnect without waiting seconds for a websocket close reply.

    websocket-client waits up to 3 s for the server's close frame; werkzeug's
    threaded test server never sends one. The Socket.IO DISCONNECT packet is
    still sent first, so the server sees an orderly client disconnect.
    """
    ws = getattr(client.eio, "ws", None)
    if ws is not None:
        close = ws.close
        ws.close = lambda *args, **kwargs: close(timeout=close_timeout)
    client.disconnect()
    if client.eio.state != "disconnected":
        client.eio.disconnect(abort=True)
