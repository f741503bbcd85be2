"""The servers under test and the ArangoDB test server behind them.

``Target`` is what the scenarios need from a server: its URL, the cookie its
clients send, and the process tree whose CPU and memory are measured. The
functions here start each kind of server the way it is deployed: the app with
the Procfile's ``web`` command, the baseline with the same command serving
:mod:`bench.baseline_app`, the peer with ``node``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from html.parser import HTMLParser
from pathlib import Path

import requests

from bench import procfile
from bench.procs import ManagedProcess, ProcessError, ProcessTree, free_port

#: Repository root: the benchmark runs every command from here.
ROOT = Path(__file__).resolve().parent.parent

APP_TARGET_BASELINE = "bench.baseline_app:app"
#: The baseline plus realtime's performance options, no authentication: the floor.
APP_TARGET_TUNED = "bench.tuned_app:app"
STARTUP_TIMEOUT = 60.0

#: Benchmark user, created fresh in the test server's database.
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-not-secret"


@dataclasses.dataclass
class Target:
    """A server under test, as the scenarios see it."""

    #: ``app``, ``baseline`` or ``peer``.
    name: str
    url: str
    #: ``Cookie`` header value of the benchmark's login.
    cookie: str
    process: ManagedProcess
    tree: ProcessTree
    #: Whether connects cost ArangoDB requests worth counting.
    uses_arango: bool
    #: One ``Cookie`` header value per line, a session of its own for each
    #: socket (``bench.sessions``); without it, every socket sends ``cookie``.
    cookie_file: Path | None = None


def node_executable() -> str | None:
    """The ``node`` binary, or None when Node.js is not installed."""
    return shutil.which("node")


def wait_http_ok(url: str, process: ManagedProcess, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll ``url`` until it answers (any status below 500)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        process.check_alive()
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException as exc:
            last_error = exc
        time.sleep(0.1)
    raise ProcessError(
        f"{process.name} did not answer {url} within {timeout:.0f} s ({last_error});"
        f" last output ({process.log_path}):\n{process.log_tail()}"
    )


def python_env(extra: t.Mapping[str, str]) -> dict[str, str]:
    """Environment for Python children: the venv first on PATH, the repo importable."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@dataclasses.dataclass
class ArangoServer:
    """The project's ArangoDB-compatible test server (``python -m tests.arangodb``)."""

    process: ManagedProcess
    url: str
    username: str
    password: str

    @property
    def tree(self) -> ProcessTree:
        return ProcessTree(self.process.pid)

    @classmethod
    def start(cls, log_dir: Path, password: str) -> ArangoServer:
        port = free_port()
        argv = [
            sys.executable, "-m", "tests.arangodb",
            "--host", "127.0.0.1", "--port", str(port),
            "--username", "root", "--password", password,
        ]  # fmt: skip
        process = ManagedProcess("arangodb", argv, python_env({}), log_dir, cwd=ROOT)
        match = process.wait_for_output(r"listening on (http://\S+)", STARTUP_TIMEOUT)
        return cls(process, match.group(1).rstrip("/"), "root", password)

    def request_count(self) -> int:
        """Requests the test server has answered since the last :meth:`reset`."""
        response = requests.get(f"{self.url}/_test/stats", timeout=5)
        response.raise_for_status()
        return count_requests(response.json())

    def reset(self) -> None:
        requests.delete(f"{self.url}/_test/stats", timeout=5).raise_for_status()


def count_requests(stats: t.Mapping[str, t.Any]) -> int:
    """Total request count from the test server's ``/_test/stats`` body.

    The test server does not count its own ``/_test`` requests.
    """
    return int(stats["total"])


def app_env(arango: ArangoServer, secret_key: str, port: int) -> dict[str, str]:
    """The environment the app (and the baseline) run with."""
    return python_env(
        {
            "SECRET_KEY": secret_key,
            "ARANGO_URL": arango.url,
            "ARANGO_USERNAME": arango.username,
            "ARANGO_PASSWORD": arango.password,
            "ARANGO_DB": "realtime",
            "PORT": str(port),
            # Keep the command line exactly the Procfile's while listening on
            # loopback only: gunicorn reads extra arguments from here, and the
            # Procfile does not set --bind.
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
            "PYTHONWARNINGS": "ignore",
            # The refused-connect rate limit would answer most of the
            # benchmark's refusals (all from 127.0.0.1) with the cheaper
            # "Too many attempts"; measure the refusal itself instead.
            "REALTIME_RATE_LIMIT": "0",
            # Every simulated client comes from 127.0.0.1, in connect bursts.
            "REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS": "0",
        }
    )


def prepare_database(arango: ArangoServer, secret_key: str, log_dir: Path) -> None:
    """Create the schema and the benchmark user with the app's own CLI commands."""
    env = app_env(arango, secret_key, 0)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "realtime"]
    for args in (["init-db"], ["create-user", BENCH_USER, "--password", BENCH_PASSWORD]):
        result = subprocess.run([*flask, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        (log_dir / "cli.log").open("a").write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ProcessError(
                f"'flask --app wsgi realtime {' '.join(args)}' failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )


def start_gunicorn(
    name: str, target: str | None, arango: ArangoServer, secret_key: str, log_dir: Path
) -> tuple[ManagedProcess, str]:
    """Start the Procfile's web command, serving ``target`` if given; return (process, url)."""
    port = free_port()
    env = app_env(arango, secret_key, port)
    argv = procfile.expand(procfile.web_command(ROOT / "Procfile"), env)
    if target is not None:
        argv = procfile.with_app_target(argv, target)
    # SIGINT is gunicorn's quick shutdown; SIGTERM would wait --graceful-timeout
    # for every open websocket.
    process = ManagedProcess(name, argv, env, log_dir, cwd=ROOT, stop_signal=signal.SIGINT)
    url = f"http://127.0.0.1:{port}"
    process.wait_for_output(r"Booting worker with pid", STARTUP_TIMEOUT)
    wait_http_ok(f"{url}/socket.io/?EIO=4&transport=polling&t=probe", process)
    return process, url


def start_peer(name: str, arango: ArangoServer, secret_key: str, log_dir: Path) -> tuple[ManagedProcess, str]:
    """Start the node socket.io peer (bench/peer/server.js); return (process, url)."""
    node = node_executable()
    if node is None:
        raise ProcessError("node is not installed; the peer needs Node.js 20 or newer.")
    env = dict(os.environ)
    env.update(
        {
            "PORT": "0",
            "HOST": "127.0.0.1",
            "SECRET_KEY": secret_key,
            "ARANGO_URL": arango.url,
            "ARANGO_USERNAME": arango.username,
            "ARANGO_PASSWORD": arango.password,
            "ARANGO_DB": "realtime",
        }
    )
    script = ROOT / "bench" / "peer" / "server.js"
    process = ManagedProcess(name, [node, str(script)], env, log_dir, cwd=ROOT)
    match = process.wait_for_output(r"listening on (http://\S+)", STARTUP_TIMEOUT)
    return process, match.group(1)


class _InputValue(HTMLParser):
    """Find the ``value`` of the ``<input name=...>`` with a given name."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        fields = dict(attrs)
        if tag == "input" and fields.get("name") == self.name and self.value is None:
            self.value = fields.get("value") or ""


def input_value(html: str, name: str) -> str | None:
    """The value of the form input called ``name`` in ``html``, or None."""
    parser = _InputValue(name)
    parser.feed(html)
    return parser.value


def login(url: str, username: str = BENCH_USER, password: str = BENCH_PASSWORD) -> str:
    """Log in through the app's form; return the ``Cookie`` header value it earned."""
    # The cookie is passed by hand: in production mode it is ``Secure``, and
    # a cookie jar would rightly not send it back over plain http://.
    form = requests.get(f"{url}/login", timeout=10)
    form.raise_for_status()
    csrf_token = input_value(form.text, "csrf_token")
    if csrf_token is None or "session" not in form.cookies:
        raise ProcessError(f"GET {url}/login gave no session cookie or no csrf_token input")
    response = requests.post(
        f"{url}/login",
        data={"username": username, "password": password, "csrf_token": csrf_token},
        headers={"Cookie": f"session={form.cookies['session']}"},
        allow_redirects=False,
        timeout=10,
    )
    if response.status_code != 302 or "session" not in response.cookies:
        raise ProcessError(
            f"POST {url}/login answered {response.status_code} without a session cookie;"
            f" check the benchmark user exists. Body: {response.text[:300]}"
        )
    return f"session={response.cookies['session']}"
